"""The run state machine: pure functions over plain data, no I/O.

A run walks a *flow* of steps: the runbook's normal steps, then — only after an
abort — its rollback steps. Each step is pending until exactly one decision
(approved / skipped) is taken; only the first pending step of the active part
of the flow can be decided. The run is ``running`` until its last normal step is
decided (``completed``) or someone aborts it (``aborted``); after an abort the
rollback steps, if any, run the same way (``rollback_state`` running → done).

The caller loads a :class:`RunState` from the database inside a transaction
that locks the run, asks :func:`decide` / :func:`abort`, and persists what comes
back. The database's unique (run, step) constraint is the backstop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.runbook import Approval, Runbook, Step
from bot.runbook.actions import CommandAction, HttpAction
from bot.store.states import RollbackStatus, RunStatus


class Decision(StrEnum):
    APPROVED = "approved"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class FlowStep:
    """A step as stored in a run's snapshot (JSON-friendly)."""

    index: int  # position in the flow (normal steps, then rollback steps)
    phase: str
    number: int  # 1-based within its phase
    position: int  # 1-based within its part of the flow ("step k of n")
    total: int  # steps in its part of the flow
    text: str
    context: tuple[str, ...] = ()
    label: str | None = None
    rollback: bool = False
    phase_intro: tuple[str, ...] = ()  # shown with the phase's first step
    approval: Approval | None = None  # who must decide it (SPEC §7 approval gates)
    action: str | None = None  # the action its Run button runs (`[run: <id>]`)
    # That action's definition when the run started (None: the actions file had
    # no such action then, and the step has no Run button): what it shows is what runs.
    action_spec: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "index": self.index,
            "phase": self.phase,
            "number": self.number,
            "position": self.position,
            "total": self.total,
            "text": self.text,
            "context": list(self.context),
            "label": self.label,
            "rollback": self.rollback,
            "phase_intro": list(self.phase_intro),
        }
        if self.approval is not None:
            data["approval"] = approval_to_json(self.approval)
        if self.action is not None:
            data["action"] = self.action
        if self.action_spec is not None:
            data["action_spec"] = self.action_spec
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FlowStep:
        return cls(
            index=int(data["index"]),
            phase=str(data["phase"]),
            number=int(data["number"]),
            position=int(data["position"]),
            total=int(data["total"]),
            text=str(data["text"]),
            context=tuple(data.get("context") or ()),
            label=data.get("label"),
            rollback=bool(data.get("rollback")),
            phase_intro=tuple(data.get("phase_intro") or ()),
            approval=approval_from_json(data.get("approval")),
            action=data.get("action"),
            action_spec=data.get("action_spec"),
        )


def approval_to_json(approval: Approval) -> dict[str, Any]:
    return {
        "roles": list(approval.roles),
        "groups": list(approval.groups),
        "users": list(approval.users),
        "people": approval.people,
        "source": approval.source,
    }


def approval_from_json(data: dict[str, Any] | None) -> Approval | None:
    """A snapshot's approval (runs started before gates existed have none)."""
    if not data:
        return None
    return Approval(
        roles=tuple(str(r) for r in data.get("roles") or ()),
        groups=tuple(str(g) for g in data.get("groups") or ()),
        users=tuple(str(u) for u in data.get("users") or ()),
        people=max(1, int(data.get("people") or 1)),
        source=str(data.get("source") or ""),
    )


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    step_index: int
    decision: Decision
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RunState:
    steps: tuple[FlowStep, ...]
    normal_count: int
    status: RunStatus = RunStatus.RUNNING
    rollback_status: RollbackStatus = RollbackStatus.NONE
    decisions: dict[int, DecisionRecord] = field(default_factory=dict)
    rollback_note: tuple[str, ...] = ()  # rollback phase text when it has no steps

    @property
    def rollback_steps(self) -> tuple[FlowStep, ...]:
        return self.steps[self.normal_count :]

    def current(self) -> FlowStep | None:
        """The one step that can be decided now, if any."""
        if self.status is RunStatus.RUNNING:
            candidates = self.steps[: self.normal_count]
        elif self.rollback_status is RollbackStatus.RUNNING:
            candidates = self.rollback_steps
        else:
            return None
        return next((s for s in candidates if s.index not in self.decisions), None)

    def counts(self, *, rollback: bool = False) -> dict[Decision, int]:
        part = self.rollback_steps if rollback else self.steps[: self.normal_count]
        indexes = {s.index for s in part}
        result = dict.fromkeys(Decision, 0)
        for record in self.decisions.values():
            if record.step_index in indexes:
                result[record.decision] += 1
        return result


# --- snapshots -------------------------------------------------------------


Actions = Mapping[str, HttpAction | CommandAction]


def _spec(step: Step, actions: Actions) -> dict[str, Any] | None:
    found = actions.get(step.action) if step.action else None
    return None if found is None else found.model_dump(mode="json")


def _flow_steps(
    pairs: list[tuple[str, tuple[str, ...], Step]], start: int, rollback: bool, actions: Actions
) -> list[FlowStep]:
    total = len(pairs)
    out: list[FlowStep] = []
    seen_phases: set[str] = set()
    for position, (phase, intro, step) in enumerate(pairs, start=1):
        first_of_phase = phase not in seen_phases
        seen_phases.add(phase)
        out.append(
            FlowStep(
                index=start + position - 1,
                phase=phase,
                number=step.number,
                position=position,
                total=total,
                text=step.text,
                context=tuple(step.context),
                label=step.label,
                rollback=rollback,
                phase_intro=tuple(intro) if first_of_phase else (),
                approval=step.approval,
                action=step.action,
                action_spec=_spec(step, actions),
            )
        )
    return out


def snapshot_runbook(runbook: Runbook, actions: Actions | None = None) -> dict[str, Any]:
    """What a run stores so it survives edits to the file and restarts
    (with the definition of each action its steps run)."""
    actions = actions or {}
    normal = [(p.name, p.intro, s) for p in runbook.phases for s in p.steps]
    steps = _flow_steps(normal, 0, rollback=False, actions=actions)
    rollback_pairs = (
        [(runbook.rollback.name, runbook.rollback.intro, s) for s in runbook.rollback.steps]
        if runbook.rollback
        else []
    )
    rollback = _flow_steps(rollback_pairs, len(steps), rollback=True, actions=actions)
    note: list[str] = []
    if runbook.rollback and not runbook.rollback.steps:
        note = list(runbook.rollback.intro)
    return {
        "steps": [s.to_json() for s in steps],
        "rollback": [s.to_json() for s in rollback],
        "rollback_note": note,
    }


def state_from_snapshot(
    snapshot: dict[str, Any],
    *,
    status: str = RunStatus.RUNNING,
    rollback_status: str = RollbackStatus.NONE,
    decisions: list[DecisionRecord] | tuple[DecisionRecord, ...] = (),
) -> RunState:
    normal = [FlowStep.from_json(s) for s in snapshot.get("steps", [])]
    rollback = [FlowStep.from_json(s) for s in snapshot.get("rollback", [])]
    return RunState(
        steps=tuple(normal + rollback),
        normal_count=len(normal),
        status=RunStatus(status),
        rollback_status=RollbackStatus(rollback_status),
        decisions={d.step_index: d for d in decisions},
        rollback_note=tuple(snapshot.get("rollback_note") or ()),
    )


# --- transitions -----------------------------------------------------------


class Refusal(StrEnum):
    ALREADY_DECIDED = "already_decided"
    NOT_CURRENT = "not_current"  # a step further on, or of a part not active
    RUN_ENDED = "run_ended"
    UNKNOWN_STEP = "unknown_step"
    NOT_ALLOWED = "not_allowed"  # the step's approval gate (bot/runs/gates.py)
    ACTION = "action"  # the step's action: running, or none to run (detail says which)


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal
    existing: DecisionRecord | None = None
    status: RunStatus | None = None
    detail: str = ""  # NOT_ALLOWED, ACTION: what the clicker is told


@dataclass(frozen=True, slots=True)
class Accepted:
    state: RunState
    record: DecisionRecord
    step: FlowStep
    next_step: FlowStep | None
    run_completed: bool = False  # the last normal step was just decided
    rollback_completed: bool = False


def decide(
    state: RunState, step_index: int, decision: Decision, by: str, at: datetime
) -> Accepted | Refused:
    if step_index in state.decisions:
        return Refused(Refusal.ALREADY_DECIDED, existing=state.decisions[step_index])
    if not 0 <= step_index < len(state.steps):
        return Refused(Refusal.UNKNOWN_STEP)
    target = state.steps[step_index]
    part_active = (
        state.rollback_status is RollbackStatus.RUNNING
        if target.rollback
        else state.status is RunStatus.RUNNING
    )
    current = state.current()
    if not part_active or current is None:
        return Refused(Refusal.RUN_ENDED, status=state.status)
    if current.index != step_index:
        return Refused(Refusal.NOT_CURRENT)
    record = DecisionRecord(step_index, decision, by, at)
    new = replace(state, decisions={**state.decisions, step_index: record})
    run_completed = rollback_completed = False
    nxt = new.current()
    if nxt is None:
        if current.rollback:
            new = replace(new, rollback_status=RollbackStatus.DONE)
            rollback_completed = True
        else:
            new = replace(new, status=RunStatus.COMPLETED)
            run_completed = True
    return Accepted(new, record, current, nxt, run_completed, rollback_completed)


@dataclass(frozen=True, slots=True)
class Aborted:
    state: RunState
    first_rollback_step: FlowStep | None


def abort(state: RunState) -> Aborted | Refused:
    if state.status is not RunStatus.RUNNING:
        return Refused(Refusal.RUN_ENDED, status=state.status)
    has_rollback = bool(state.rollback_steps)
    new = replace(
        state,
        status=RunStatus.ABORTED,
        rollback_status=RollbackStatus.RUNNING if has_rollback else RollbackStatus.NONE,
    )
    return Aborted(new, new.current())
