"""Block Kit for ``/runbook help``, ``list`` and ``show`` (ephemeral replies)."""

from __future__ import annotations

from bot.runbook import Library, Phase, Runbook
from bot.slack.blockkit import MAX_BLOCKS, Payload, cap_blocks, context, header, section, truncate
from bot.slack.mrkdwn import escape, md_to_mrkdwn, split_mrkdwn
from bot.timefmt import plural

RUNBOOK_HELP = """*`/runbook` — run a Markdown runbook step by step*
• `/runbook list` — every runbook
• `/runbook show RB-04` — its phases and steps
• `/runbook start RB-04 [INC-<n>] [<level>] [summary]` — open an incident (or join INC-<n>) \
and walk the steps with *Approve* / *Skip*; a new incident gets `<level>` (e.g. `critical`), \
else the runbook's severity, else the default level. Steps tagged `[approval: …]` can only be \
decided by the people they name; a runbook's `rto` starts a clock
• `/runbook abort [INC-<n>]` — stop the running runbook and offer its Rollback steps
• `/runbook drill RB-11 [environment] [summary]` — rehearse a runbook (default \
environment `staging`): a run on its own incident marked DRILL, recorded in the validation log
• `/runbook history RB-04` — its recent runs and drills
• `/runbook help` — this message
Incident commands: `/incident help`."""

INCIDENT_HELP = """*`/incident` — the incident around your runbooks*
• `/incident declare [<level>] <title>` — open an incident without a runbook \
(`/incident declare critical Payments down`)
• `/incident ack [INC-<n>]` — acknowledge it (stops the response-target clock)
• `/incident priority [INC-<n>] <level>` — change its priority level
• `/incident role [INC-<n>] <role> <@user>` — assign a role (`commander`, `comms`, …)
• `/incident update [INC-<n>] <text>` — post a status update (restarts the reminder clock)
• `/incident note [INC-<n>] <text>` — add a note to the timeline
• `/incident timeline [INC-<n>]` — show the timeline
• `/incident resolve [INC-<n>]` — resolve, stop reminders, post a summary
• `/incident followup [INC-<n>] <text> [<@user>] [due 3d|YYYY-MM-DD]` — record a follow-up \
(`/incident followup done <id>` when it is)
• `/incident followups [INC-<n> | mine | overdue]` — list follow-ups
• `/incident postmortem [INC-<n>]` — a summary of the postmortem draft \
(`/incident postmortem [INC-<n>] done <link>` once it is written)
`INC-<n>` can be left out when exactly one incident is open in this channel."""


def help_message(text: str) -> Payload:
    return {"text": text, "blocks": [section(text)]}


def list_message(library: Library, due: frozenset[str] = frozenset()) -> Payload:
    """``due``: ids of runbooks due for a drill (``VALIDATION_INTERVAL``), marked."""
    runbooks = list(library.runbooks.values())
    if not runbooks:
        text = "No runbooks are loaded. Check `RUNBOOKS_DIR` and run `runbook-bot lint`."
        return {"text": text, "blocks": [section(text)]}
    lines = []
    for rb in runbooks:
        extra = " · ".join(
            escape(v) for v in (rb.severity, rb.owner, f"RTO {rb.rto}" if rb.rto else None) if v
        )
        lines.append(
            f"• *{escape(rb.id)}* — {escape(rb.title)} ({rb.step_count} steps)"
            + (f" · _{extra}_" if extra else "")
            + (" · 🧪 *drill due*" if rb.id in due else "")
        )
    chunks = split_mrkdwn("\n".join(lines), 2900)
    blocks = [section(f"*{len(runbooks)} runbooks* — start one with `/runbook start <ID>`")]
    blocks += [section(c) for c in chunks][: MAX_BLOCKS - 2]
    if due:
        blocks.append(
            context(
                f"🧪 {len(due)} due for a drill (no passing validation within the interval): "
                "`/runbook drill <ID>`"
            )
        )
    if library.problems:
        blocks.append(
            context(f"{plural(len(library.problems), 'file problem')}: run `runbook-bot lint`.")
        )
    text = "Runbooks: " + ", ".join(
        f"{escape(rb.id)} {escape(rb.title)}" + (" (drill due)" if rb.id in due else "")
        for rb in runbooks
    )
    note = "_…more runbooks than one message holds: `runbook-bot lint` names every file._"
    return {"text": truncate(text, 3000), "blocks": cap_blocks(blocks, note)}


def show_message(runbook: Runbook, path: str | None = None) -> Payload:
    """``path``: the file as the footer names it (``Library.shown_path``)."""
    shown = path or runbook.path
    meta = " · ".join(
        f"{label}: {escape(value)}"
        for label, value in (
            ("Owner", runbook.owner),
            ("Severity", runbook.severity),
            ("RTO", runbook.rto),
        )
        if value
    )
    blocks = [header(f"{runbook.id} {runbook.title}")]
    if meta:
        blocks.append(context(meta))
    phases = [*runbook.phases, *([runbook.rollback] if runbook.rollback else [])]
    for phase in phases:
        lines = [f"*{escape(phase.name)}*" + _phase_note(phase)]
        for step in phase.steps:
            first_line = md_to_mrkdwn(step.text).split("\n", 1)[0]
            line = f"{step.number}. {truncate(first_line, 280)}"
            if step.whole_phase:
                line += " _(whole section)_" if step.line == phase.line else " _(whole subsection)_"
            if step.approval is not None:
                line += f" · _approval: {escape(truncate(step.approval.source, 120))}_"
            lines.append(line)
        if not phase.steps:
            lines.append("_no steps — context only_")
        for chunk in split_mrkdwn("\n".join(lines), 2900):
            blocks.append(section(chunk))
    whole = sum(step.whole_phase for _, step in runbook.steps)
    as_written = (
        f" · {whole} run as written, a whole section each — `runbook-bot lint --fix` "
        "numbers their steps"
        if whole
        else ""
    )
    blocks.append(
        context(
            f"{runbook.step_count} steps{as_written} · `{escape(shown)}` · "
            f"rev `{runbook.content_hash[:12]}` · start with `/runbook start {runbook.id}`"
        )
    )
    text = f"{escape(runbook.id)} {escape(runbook.title)}: {runbook.step_count} steps"
    note = f"_…cut to fit one Slack message: every phase and step is in_ `{escape(shown)}`"
    return {"text": truncate(text, 3000), "blocks": cap_blocks(blocks, note)}


def _phase_note(phase: Phase) -> str:
    if phase.is_rollback:
        return " _(offered when a run is aborted)_"
    if not phase.steps or not phase.steps[0].whole_phase:
        return ""
    if phase.steps[0].line != phase.line:
        return " _(no numbered steps: runs one step per ### subsection)_"
    if len(phase.steps) > 1:  # too long for one message, cut at block boundaries
        return f" _(no numbered steps: runs as written, in {len(phase.steps)} parts)_"
    return " _(no numbered steps: runs as one step)_"


def unknown_runbook(token: str, library: Library) -> str:
    close = library.closest(token)
    hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
    return f"Unknown runbook `{escape(token)}`.{hint} `/runbook list` shows them all."
