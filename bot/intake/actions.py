"""Acting on intake items: a step decision, a runbook start.

Each handler runs inside the intake worker's transaction (``bot/intake/worker.py``):
the flow's rows, the Slack messages it owes and the item's removal commit
together. A refusal (someone else decided first, the run ended, the incident
is closed) is told to the sender as an ephemeral message via the outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.incidents.priority import PriorityPolicy
from bot.incidents.service import claim_request
from bot.intake.payloads import DecideRequest, Message, ReplyTo, RunRequest, StartRequest
from bot.intake.worker import AfterCommit, Handler, Item, NotYet, reply
from bot.metrics import Metrics
from bot.runbook import Library
from bot.runs import blocks
from bot.runs.action_runner import ActionRunner
from bot.runs.decide import Click
from bot.runs.engine import Decision
from bot.runs.flows import DuplicateRequest, FlowError, decide_step, start_run
from bot.runs.queries import GateGroups
from bot.runs.running import run_step
from bot.slack.groups import GroupMembers
from bot.store.models import utcnow

DECIDE = DecideRequest.KIND
START = StartRequest.KIND
RUN = RunRequest.KIND

NOT_AN_APPROVER = (
    "Only the configured approvers can decide steps in this workspace. Nothing changed."
)
APPROVERS_UNKNOWN = (
    "Slack could not be asked who is in the approvers' user groups, so this click could not "
    "be judged. Nothing changed — try again in a minute."
)
CANNOT_RUN = (
    "The runbook bot cannot start actions right now (it lost its hold on the database). "
    "Nothing changed — try again in a minute."
)
RETRY_SECONDS = 2.0  # a click waiting on Slack is looked at again this often (or when known)
WAIT_SECONDS = 120.0  # after this, it is answered with what is known


class Judges(Protocol):
    """Who may decide, from what Slack last said (``bot/slack/approvers.py``):
    read from a cache, never asking Slack; None for what is not known yet."""

    def allows(self, user_id: str) -> bool | None: ...

    def members(self, groups: Iterable[str]) -> dict[str, GroupMembers]: ...

    def nudge(self) -> None: ...


def decide_payload(
    *,
    run_id: int,
    step_index: int,
    decision: Decision,
    user: str,
    channel: str,
    ts: str,
    thread_ts: str | None,
    name: str | None = None,
    reason: str | None = None,
    request_key: str | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """(kind, ordering key, payload) of a click, as the listener submits it.

    ``name`` is the clicker's handle as Slack sent it: it rides along for free
    and the worker records it (``bot/store/people.py``). ``reason`` and
    ``request_key``: a skip submitted from its modal (why; ``view:<id>``)."""
    request = DecideRequest(
        run_id,
        step_index,
        decision,
        Message(channel, ts),
        ReplyTo(channel, user, name, thread_ts),
        reason=reason,
        request_key=request_key,
    )
    return DECIDE, request.ordering_key, request.to_json()


def run_payload(
    *,
    run_id: int,
    step_index: int,
    user: str,
    channel: str,
    ts: str,
    thread_ts: str | None,
    name: str | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """(kind, ordering key, payload) of a Run click (ordered with the run's clicks)."""
    request = RunRequest(
        run_id, step_index, Message(channel, ts), ReplyTo(channel, user, name, thread_ts)
    )
    return RUN, request.ordering_key, request.to_json()


def start_payload(
    *,
    runbook_id: str,
    channel: str,
    user: str,
    summary: str | None,
    incident_id: int | None,
    trigger_id: str | None,
    priority: str | None = None,
    drill_environment: str | None = None,
    name: str | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """(kind, ordering key, payload) of ``/runbook start`` (and ``drill``);
    ``name`` as in ``decide_payload``."""
    request = StartRequest(
        runbook_id,
        ReplyTo(channel, user, name),
        summary=summary,
        incident_id=incident_id,
        priority=priority,
        trigger_id=trigger_id,
        drill_environment=drill_environment,
    )
    return START, request.ordering_key, request.to_json()


class Actions:
    """The intake handlers, with what they need passed in (no globals)."""

    def __init__(
        self,
        *,
        library: Library,
        policy: PriorityPolicy,
        metrics: Metrics,
        notify_outbox: Callable[[], None],
        nudge_reminders: Callable[[datetime | None], None],
        approvers: Judges | None = None,
        wait_seconds: float = WAIT_SECONDS,
        nudge_deadlines: Callable[[datetime | None], None] | None = None,
        runner: ActionRunner | None = None,
    ) -> None:
        self._runner = runner
        self._nudge_deadlines = nudge_deadlines or (lambda _due: None)
        self._library = library
        self._policy = policy
        self._approvers = approvers
        self._wait = wait_seconds
        self._gate_groups = GateGroups()
        self._metrics = metrics
        self._notify = notify_outbox
        self._nudge = nudge_reminders

    def handlers(self) -> dict[str, Handler]:
        return {DECIDE: self.decide, START: self.start, RUN: self.run}

    async def decide(self, session: AsyncSession, item: Item) -> AfterCommit | None:
        request = DecideRequest.from_json(item.payload)
        decision, run_id, step_index = request.decision, request.run_id, request.step_index
        user = request.reply_to.user
        members = await self._members(session, item, user, run_id, step_index)
        if members is None:
            return self._notify
        if request.request_key and not await claim_request(session, request.request_key):
            return None  # the same modal submitted again: decided (or refused) once already
        result = await decide_step(
            session,
            run_id=run_id,
            step_index=step_index,
            decision=decision,
            user_id=user,
            message_channel=request.message.channel,
            message_ts=request.message.ts,
            # The decision is timed when the person clicked, not when it was processed.
            at=item.received_at,
            group_members=members,
            reason=request.reason,
        )
        if result.refused is not None:
            reply(session, item, blocks.refusal_text(result.refused))
            return self._notify
        if result.partial is not None:
            return self._notify
        completed = result.accepted is not None and result.accepted.run_completed

        def after() -> None:
            self._notify()
            self._metrics.decisions.labels(decision.value).inc()
            if completed:
                self._metrics.runs_completed.inc()

        return after

    async def _members(
        self, session: AsyncSession, item: Item, user: str, run_id: int, step_index: int
    ) -> dict[str, GroupMembers] | None:
        """Whether the clicker may decide at all (APPROVERS), and the members of the
        user groups the step's gate names; None: refused (the clicker was told)."""
        members: dict[str, GroupMembers] = {}
        if self._approvers is not None:
            allowed = self._approvers.allows(user)
            self._wait_for_slack(item, unknown=allowed is None)
            if not allowed:
                reply(session, item, NOT_AN_APPROVER if allowed is False else APPROVERS_UNKNOWN)
                return None
            groups = await self._gate_groups.for_step(session, run_id, step_index)
            if groups:
                members = self._approvers.members(groups)
                self._wait_for_slack(item, unknown=None in members.values())
        return members

    async def run(self, session: AsyncSession, item: Item) -> AfterCommit:
        """Run clicked: judged like Approve; a started execution runs after the commit."""
        request = RunRequest.from_json(item.payload)
        user = request.reply_to.user
        members = await self._members(session, item, user, request.run_id, request.step_index)
        if members is None:
            return self._notify
        owner = await self._runner.owner_id() if self._runner is not None else None
        if owner is None:
            reply(session, item, CANNOT_RUN)
            return self._notify
        message = request.message.to_json()
        click = Click(request.run_id, request.step_index, Decision.APPROVED, user, message)
        result = await run_step(
            session, click, owner=owner, at=item.received_at, group_members=members
        )
        if result.refused is not None:
            reply(session, item, blocks.refusal_text(result.refused))
            return self._notify
        execution, runner = result.execution_id, self._runner

        def after() -> None:
            self._notify()
            if execution is not None and runner is not None:
                runner.start(execution)

        return after

    def _wait_for_slack(self, item: Item, *, unknown: bool) -> None:
        """What the judgement needs is not known yet: the item waits for Slack
        (``NotYet``) — until ``wait_seconds`` after it arrived; then it is
        judged with what is known (unknown members count as no one)."""
        if unknown and utcnow() - item.received_at < timedelta(seconds=self._wait):
            assert self._approvers is not None
            self._approvers.nudge()
            raise NotYet(RETRY_SECONDS)

    async def start(self, session: AsyncSession, item: Item) -> AfterCommit:
        request = StartRequest.from_json(item.payload)
        runbook = self._library.get(request.runbook_id)
        if runbook is None:
            text = f"Runbook `{request.runbook_id}` is no longer loaded. Nothing was started."
            reply(session, item, text)
            return self._notify
        trigger = request.trigger_id
        try:
            # A savepoint: a refused start leaves nothing behind but the reply.
            async with session.begin_nested():
                started = await start_run(
                    session,
                    runbook=runbook,
                    channel_id=request.reply_to.channel,
                    user_id=request.reply_to.user,
                    summary=request.summary,
                    incident_id=request.incident_id,
                    policy=self._policy,
                    priority=request.priority,
                    request_key=f"trigger:{trigger}" if trigger else None,
                    at=item.received_at,
                    drill_environment=request.drill_environment,
                    actions=self._library.actions,
                )
        except DuplicateRequest:
            return self._notify  # Slack retried a start already handled: say nothing
        except FlowError as exc:
            reply(session, item, f"{exc} Nothing was started.")
            return self._notify
        due = started.incident.next_reminder_at
        # A new incident's response target, or the run's RTO warning: the earlier.
        clocks = [started.deadline] if started.deadline is not None else []
        if started.created_incident:
            target = self._policy.target_for(started.incident.priority)
            if target is not None:
                clocks.append(started.incident.opened_at + timedelta(seconds=target))

        def after() -> None:
            self._notify()
            self._nudge(due)
            if clocks:
                self._nudge_deadlines(min(clocks))
            self._metrics.runs_started.inc()

        return after
