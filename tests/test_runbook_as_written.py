"""Runbooks as written (SPEC §11): action phases without steps run as whole-phase
steps; a phase-less checklist is one phase named after its title. Pure."""

from __future__ import annotations

from typing import Any

from bot.runbook import Runbook, Severity, is_action_phase
from bot.runs import catalog_blocks
from bot.runs.blocks import step_message
from bot.runs.engine import snapshot_runbook, state_from_snapshot
from tests.rig import validate_blocks
from tests.runbook_support import ok, parse

ALERT = """
# KubeJobFailed

## Meaning

The job failed to complete.

## Impact

Work scheduled by the job did not run.

## Diagnosis

Check the job's events:

```console
kubectl describe job $NAME -n $NAMESPACE
```

Look at the logs of its last pod.

## Mitigation

Delete the failed job once the cause is fixed; the CronJob creates a new one.

```console
kubectl delete job $NAME -n $NAMESPACE
```
"""


def flow(runbook: Runbook) -> list[tuple[str, int, str, bool]]:
    return [(p.name, s.number, s.text, s.whole_phase) for p, s in runbook.steps]


def test_prose_only_action_phases_are_one_step_each() -> None:
    runbook, problems = parse(ALERT)
    assert runbook is not None
    assert flow(runbook) == [
        ("Diagnosis", 1, "Diagnosis", True),
        ("Mitigation", 1, "Mitigation", True),
    ]
    diagnosis, mitigation = (s for _, s in runbook.steps)
    assert diagnosis.context == (
        "Check the job's events:",
        "```console\nkubectl describe job $NAME -n $NAMESPACE\n```",
        "Look at the logs of its last pod.",
    )
    assert diagnosis.line == 11 and mitigation.line == 21
    assert diagnosis.approval is None and diagnosis.label is None
    meaning, impact = runbook.phases[:2]
    assert (meaning.steps, impact.steps) == ((), ())  # not action phases: context only
    assert meaning.intro == ("The job failed to complete.",)
    assert [(p.line, p.severity) for p in problems] == [(11, Severity.WARNING)]
    assert problems[0].message == (
        "runs each action phase as one step: number the steps to run them one at a time, "
        "or run lint --fix — Diagnosis (the whole section, 1 paragraph with commands), "
        "Mitigation (the whole section, 1 paragraph with commands)"
    )


def test_subsections_with_content_are_one_step_each() -> None:
    runbook = ok(
        """
        ## Mitigation

        Pick the case that matches.

        ### Out of memory

        Raise the limit:

        ```yaml
        resources: {limits: {memory: 2Gi}}
        ```

        #### Why

        The kernel killed it.

        ### Empty case

        ### Bad config

        Roll back the ConfigMap.

        ---
        """
    )
    phase = runbook.phases[0]
    assert phase.intro == ("Pick the case that matches.",)
    assert [(s.number, s.text, s.line, s.whole_phase) for s in phase.steps] == [
        (1, "Out of memory", 5, True),
        (2, "Bad config", 19, True),  # "Empty case" has no content: no step
    ]
    assert phase.steps[0].context == (
        "Raise the limit:",
        "```yaml\nresources: {limits: {memory: 2Gi}}\n```",
        "#### Why",
        "The kernel killed it.",
    )
    assert phase.steps[1].context == ("Roll back the ConfigMap.",)


def test_subsection_headings_without_content_fall_back_to_the_whole_phase() -> None:
    runbook = ok("## Steps\n\nDo it all by hand.\n\n### Later\n")
    (step,) = runbook.phases[0].steps
    assert (step.text, step.context) == ("Steps", ("Do it all by hand.", "### Later"))


def test_bare_action_heading_adds_no_step_and_lists_still_win() -> None:
    runbook = ok("## Diagnosis\n\n## Mitigation\n\nSome words.\n\n1. Restart it\n")
    assert flow(runbook) == [("Mitigation", 1, "Restart it", False)]
    assert runbook.phases[1].intro == ("Some words.",)


def test_heading_markup_is_kept_as_markdown() -> None:
    runbook = ok("## Fix the `api` pod ##\n\nrestart it\n\n## How to *verify*\n\ncurl it\n")
    assert [s.text for _, s in runbook.steps] == ["Fix the `api` pod", "How to *verify*"]


def test_rollback_prose_stays_a_note() -> None:
    runbook = ok("## Steps\n1. go\n## Rollback\nUndo by hand.\n")
    assert runbook.rollback is not None and runbook.rollback.steps == ()
    assert runbook.rollback.intro == ("Undo by hand.",)


def test_a_long_phase_is_cut_at_block_boundaries() -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 300 + "end." for i in range(12)]  # ~18,000 chars
    runbook, problems = parse("## Mitigation\n\n" + "\n\n".join(paragraphs) + "\n")
    assert runbook is not None
    assert not [p for p in problems if p.severity is Severity.ERROR]
    steps = runbook.phases[0].steps
    # Each part fits the one message that carries its buttons, read in order.
    assert [s.text for s in steps] == [f"Mitigation ({n} of 3)" for n in (1, 2, 3)]
    assert [part for s in steps for part in s.context] == paragraphs
    assert steps[0].line == 1 and steps[1].line > 1
    assert "in 3 parts" in problems[0].message


def test_phase_less_checklist_is_named_after_its_title() -> None:
    runbook = ok("---\ntitle: Drain a node\nweight: 3\n---\nIntro.\n\n1) cordon\n2) drain\n")
    assert flow(runbook) == [
        ("Drain a node", 1, "cordon", False),
        ("Drain a node", 2, "drain", False),
    ]
    untitled = ok("* [ ] one\n* [x] two\n")
    assert [p.name for p in untitled.phases] == ["Steps"]
    assert [s.checked for _, s in untitled.steps] == [False, True]


def test_neither_steps_nor_action_phases_is_still_an_error() -> None:
    runbook, problems = parse("# Alert\n\n## Meaning\n\nIt fired.\n\n## Impact\n\nNone.\n")
    assert runbook is None
    assert problems[0].severity is Severity.ERROR
    assert problems[0].message.startswith("no steps: 2 sections (Meaning, Impact)")


def test_action_phase_names() -> None:
    yes = [
        "Steps", "Procedure", "Instructions", "How to fix", "Runbook", "Resolution", "Resolve",
        "Mitigation", "Remediation", "Recovery", "Restore", "Diagnosis", "Troubleshooting",
        "Investigation", "Triage", "Containment", "Immediate actions", "Action", "Verification",
        "Validation", "Execution", "Fail over", "Failover", "Workarounds", "Fixing", "Next steps",
    ]  # fmt: skip
    no = [
        "Meaning", "Impact", "Summary", "Prerequisites", "Notes", "Rollback steps",
        "Roll back the fix", "Containers", "Validation Log", "Related runbooks", "Prefix",
    ]  # fmt: skip
    assert [n for n in yes if not is_action_phase(n)] == []
    assert [n for n in no if is_action_phase(n)] == []


# --- Slack: /runbook show and the step message --------------------------------


def _texts(payload: dict[str, Any]) -> str:
    return "\n".join(
        b["text"]["text"] if "text" in b else " ".join(e.get("text", "") for e in b["elements"])
        for b in payload["blocks"]
        if b["type"] in ("section", "context")
    )


def test_show_marks_whole_phase_steps_and_approvals() -> None:
    runbook = ok(
        ALERT
        + "\n## Verification\n\n### Pods\n\nAll ready.\n\n### Jobs\n\nNone failed.\n"
        + "\n## Follow-up\n\n1. File a ticket [approval: commander, 2 people]\n"
    )
    payload = catalog_blocks.show_message(runbook)
    assert validate_blocks(payload["blocks"]) == []
    text = _texts(payload)
    assert (
        "*Diagnosis* _(no numbered steps: runs as one step)_\n1. Diagnosis _(whole section)_"
        in text
    )
    assert "*Verification* _(no numbered steps: runs one step per ### subsection)_" in text
    assert "1. Pods _(whole subsection)_\n2. Jobs _(whole subsection)_" in text
    assert "1. File a ticket · _approval: commander, 2 people_" in text
    assert "5 steps · 4 run as written, a whole section each" in text


def test_whole_phase_step_message_fits_slack() -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 300 + "end." for i in range(12)]
    runbook = ok("## Mitigation\n\n" + "\n\n".join(paragraphs) + "\n")
    state = state_from_snapshot(snapshot_runbook(runbook))
    shown = ""
    for step in state.steps:
        payload = step_message(1, step)
        assert validate_blocks(payload["blocks"]) == [] and len(payload["blocks"]) <= 50
        assert "more in the runbook file" not in _texts(payload)  # nothing cut off
        shown += _texts(payload)
    assert all(f"Paragraph {i}:" in shown for i in range(12))
