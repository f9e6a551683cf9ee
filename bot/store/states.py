"""Names for the states and kinds stored as strings (no migration: each value
is the string the column has always held), and the keys built from ids.

Pure: no SQLAlchemy, so renderers and the engine can use them.
"""

from __future__ import annotations

import re
from enum import StrEnum


class IncidentState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    ABORTED = "aborted"


class RollbackStatus(StrEnum):
    NONE = "none"
    RUNNING = "running"
    DONE = "done"


class OutboxState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class IntakeState(StrEnum):
    PENDING = "pending"
    FAILED = "failed"


class ExecutionState(StrEnum):
    """An action's execution (``executions``): recorded before it starts."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    IN_DOUBT = "in_doubt"  # its process died while it ran: it may have run


class AlertStatus(StrEnum):
    """An alert's, as Alertmanager says it."""

    FIRING = "firing"
    RESOLVED = "resolved"


class EventKind(StrEnum):
    """A timeline event's ``kind``."""

    INCIDENT_OPENED = "incident_opened"
    INCIDENT_ACKNOWLEDGED = "incident_acknowledged"
    INCIDENT_RESOLVED = "incident_resolved"
    PRIORITY_CHANGED = "priority_changed"
    ROLE_ASSIGNED = "role_assigned"
    STATUS_UPDATE = "status_update"
    NOTE = "note"
    RUNBOOK_STARTED = "runbook_started"
    RUNBOOK_COMPLETED = "runbook_completed"
    RUNBOOK_ABORTED = "runbook_aborted"
    STEP_APPROVED = "step_approved"
    STEP_SKIPPED = "step_skipped"
    STEP_APPROVAL_PARTIAL = "step_approval_partial"
    REMINDER_SENT = "reminder_sent"
    REMINDER_JOINED = "reminder_joined"
    REMINDER_SNOOZED = "reminder_snoozed"
    RESPONSE_TARGET_MISSED = "response_target_missed"
    RTO_WARNING = "rto_warning"
    RTO_BREACHED = "rto_breached"
    VALIDATION_RECORDED = "validation_recorded"
    ALERT_FIRED = "alert_fired"
    ALERT_RESOLVED = "alert_resolved"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    ACTION_STARTED = "action_started"
    ACTION_SUCCEEDED = "action_succeeded"
    ACTION_FAILED = "action_failed"
    FOLLOWUP_ADDED = "followup_added"
    FOLLOWUP_DONE = "followup_done"
    FOLLOWUP_OVERDUE = "followup_overdue"
    POSTMORTEM_DONE = "postmortem_done"
    POSTMORTEM_OVERDUE = "postmortem_overdue"


# Ordering keys (the outbox's and the intake's): one place that spells them.
def run_key(run_id: int) -> str:
    return f"run:{run_id}"


def incident_key(incident_id: int) -> str:
    return f"incident:{incident_id}"


INCIDENT_KEY = re.compile(r"^INC-(\d{1,12})$", re.IGNORECASE)


def parse_incident_key(token: str) -> int | None:
    """``INC-42`` (any case) → 42; anything else → None."""
    match = INCIDENT_KEY.match(token.strip())
    return int(match.group(1)) if match else None


def run_message_key(run_id: int) -> str:
    """Collapse key of a run message's progress updates."""
    return f"run-message:{run_id}"


def incident_message_key(incident_id: int) -> str:
    """Collapse key of the updates of an incident's channel (declare) message."""
    return f"incident-message:{incident_id}"


def reminder_key(incident_id: int) -> str:
    """Collapse key of an incident's pending reminder."""
    return f"reminder:{incident_id}"


def alert_key(alert_id: int) -> str:
    """The outbox ordering key of one alert's message (post, then updates, in order)."""
    return f"alert:{alert_id}"


def alert_group_key(lead_id: int) -> str:
    """Pending updates of one group message collapse into the newest."""
    return f"alert-group:{lead_id}"


def alert_intake_key(fingerprint: str) -> str:
    """Clicks on one alert's message, one at a time (the intake's ordering key)."""
    return f"alert:{fingerprint}"
