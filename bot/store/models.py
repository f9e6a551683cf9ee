"""Database tables (SQLAlchemy 2 ORM). The Alembic migrations in ``migrations/``
create exactly these; ``tests/test_migrations.py`` checks they agree.

Invariants the database enforces rather than process memory:
- one decision per step: ``step_decisions`` is unique on (run_id, step_index);
- one open claim per reminder: reminders are claimed with ``FOR UPDATE SKIP LOCKED``
  on ``incidents.next_reminder_at``, deadlines likewise on ``deadlines``;
- the timeline is append-only (a PostgreSQL trigger rejects UPDATE/DELETE);
- so is the validation log, one row per drill run (unique on ``run_id``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.store import states
from bot.store.columns import UTCDateTime

# SQLite has no BIGSERIAL: an INTEGER PRIMARY KEY is its rowid alias.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, typed as one (``__table__`` is any FROM clause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[states.IncidentState] = mapped_column(
        String(16), default=states.IncidentState.OPEN
    )
    opened_by: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    last_update_at: Mapped[datetime | None]
    # Source of truth for reminders: NULL once resolved.
    next_reminder_at: Mapped[datetime | None]
    # Thread for status updates and reminders (the first run message), once known.
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    # A rehearsal (``/runbook drill``): shown as DRILL everywhere, never in insights.
    drill: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    drill_environment: Mapped[str | None] = mapped_column(String(64))
    # SPEC §7: a PRIORITY_LEVELS name; who acknowledged first and when; role → user ID.
    priority: Mapped[str] = mapped_column(String(32), default="medium", server_default="medium")
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    roles: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")

    __table_args__ = (
        Index("ix_incidents_channel_state", "channel_id", "state"),
        Index("ix_incidents_next_reminder_at", "next_reminder_at"),
        # Insights and App Home read incidents by when they opened.
        Index("ix_incidents_opened_at", "opened_at"),
    )

    @property
    def key(self) -> str:
        return f"INC-{self.id}"


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    runbook_id: Mapped[str] = mapped_column(String(200))
    runbook_title: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    # The steps as they were when the run started, so a run survives edits to
    # the file and restarts of the bot: {"steps": [...], "rollback": [...]}.
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    channel_id: Mapped[str] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    started_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    # running | completed | aborted
    state: Mapped[states.RunStatus] = mapped_column(String(16), default=states.RunStatus.RUNNING)
    # Rollback after an abort: none | running | done
    rollback_state: Mapped[states.RollbackStatus] = mapped_column(
        String(16), default=states.RollbackStatus.NONE
    )

    __table_args__ = (
        Index("ix_runs_incident", "incident_id"),
        # Insights, history and App Home's "last runs" read runs by start time.
        Index("ix_runs_runbook_started", "runbook_id", "started_at"),
        Index("ix_runs_started_at", "started_at"),
    )


class StepDecision(Base):
    __tablename__ = "step_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    # Index into the run's flow: normal steps first, then rollback steps.
    step_index: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))  # approved | skipped
    decided_by: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("run_id", "step_index", name="uq_step_decision"),)


class TimelineEvent(Base):
    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    kind: Mapped[states.EventKind] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_timeline_incident_id", "incident_id", "id"),)


class Validation(Base):
    """One drill run's result: the runbook's validation log (``bot/drills``).

    Append-only like the timeline (a PostgreSQL trigger rejects UPDATE/DELETE);
    written in the transaction that completes or aborts the drill's run.
    """

    __tablename__ = "validations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    runbook_id: Mapped[str] = mapped_column(String(200))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    environment: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(8))  # pass | fail
    reason: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float] = mapped_column(Float)
    validators: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)

    __table_args__ = (Index("ix_validations_runbook_at", "runbook_id", "at"),)


class HomeViewer(Base):
    """Someone who opened the bot's App Home: republished when incidents change,
    at most once per ``HOME_REFRESH_INTERVAL`` (``bot/home``)."""

    __tablename__ = "home_viewers"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    # The newest timeline event id the published view reflects.
    published_mark: Mapped[int] = mapped_column(BigInteger, default=0)


class Person(Base):
    """A Slack user's handle as the bot last saw it on one of their requests, so
    the validation log can show names (``bot/store/people.py``)."""

    __tablename__ = "people"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # When Slack sent the request the name came with (a newer one wins).
    seen_at: Mapped[datetime]


class Deadline(Base):
    """A clock that fires once: a response target, an RTO warning or breach.

    Claimed with ``FOR UPDATE SKIP LOCKED`` when due (``bot/incidents/deadlines.py``)
    and marked ``fired_at`` in the transaction that records what it caused, so
    several processes fire each once and a restart loses none. Pending rows of
    an incident or run that no longer needs them are deleted.
    """

    __tablename__ = "deadlines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # response_target | rto_warning | rto_breach
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("followups.id"))
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]

    __table_args__ = (
        # The scheduler's earliest-due and claim queries read only pending rows.
        Index(
            "ix_deadlines_pending_due",
            "due_at",
            postgresql_where=text("fired_at IS NULL"),
            sqlite_where=text("fired_at IS NULL"),
        ),
        Index("ix_deadlines_incident", "incident_id"),
    )


class OutboxMessage(Base):
    """A Slack Web API call the bot owes, committed with the decision that owes it.

    The outbox worker delivers pending rows in ``id`` order per ``ordering_key``
    (one run or incident), retrying 429/5xx, so Slack sees them in order and a
    crash between commit and delivery loses nothing.
    """

    __tablename__ = "slack_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ordering_key: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(64))  # chat.postMessage, chat.update, ...
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Thread under the ts another outbox row gets once delivered (run message).
    thread_from: Mapped[int | None] = mapped_column(BigId)
    # After delivery, store the returned ts here: "run:<id>" or "incident:<id>".
    on_delivered: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[states.OutboxState] = mapped_column(
        String(16), default=states.OutboxState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
    # The worker that leased it (bot/slack/owner.py): a claim takes over a dead
    # owner's lease at once, never a live one's.
    lease_owner: Mapped[int | None] = mapped_column(BigInteger)
    # Slack may already have it (its owner died mid-delivery): look it up
    # before posting again (bot/slack/lookup.py).
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    result_ts: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # What goes first in a channel (``bot.slack.pace.Priority``; 0 first).
    priority: Mapped[int] = mapped_column(SmallInteger, default=4, server_default="4")
    # Pending rows with one collapse key collapse into the latest (an update
    # superseded before it went: ``bot.slack.outbox.enqueue_collapsing``).
    collapse_key: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_outbox_state_id", "state", "id"),
        Index(
            "ix_outbox_collapse_pending",
            "collapse_key",
            postgresql_where=text("state = 'pending' AND collapse_key IS NOT NULL"),
            sqlite_where=text("state = 'pending' AND collapse_key IS NOT NULL"),
        ),
        # The claim looks for an earlier pending row of the same key.
        Index("ix_outbox_key_state_id", "ordering_key", "state", "id"),
    )


class HandledRequest(Base):
    """Idempotency keys of interactions already handled (Slack retries, replays)."""

    __tablename__ = "handled_requests"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class IntakeItem(Base):
    """A request the bot acknowledged but has not acted on yet.

    The ack path's only write (``bot/intake/worker.py``): a click or ``/runbook start``
    is committed here before Slack gets its ack, and a worker turns it into the
    decision, timeline events and Slack messages right after. Rows are deleted
    once acted on; a row that hit a bug is kept as ``failed`` for the operator.
    """

    __tablename__ = "intake"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # decide | start
    # Items of one key (a run, a channel) are acted on one at a time, in order.
    ordering_key: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[states.IntakeState] = mapped_column(
        String(16), default=states.IntakeState.PENDING
    )
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_intake_key_state_id", "ordering_key", "state", "id"),)


class Alert(Base):
    """One firing of a Prometheus alert, as Alertmanager sent it (``bot/alerts/``).

    A repeated or retried notification of the same firing (same fingerprint
    and ``startsAt``) finds its row and posts nothing. A group's alerts share
    one message while any fires: the first one's row (the lead) holds it, who
    acknowledged it and the incident opened from it.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    alertname: Mapped[str] = mapped_column(Text)
    status: Mapped[states.AlertStatus] = mapped_column(
        String(16), default=states.AlertStatus.FIRING
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    generator_url: Mapped[str | None] = mapped_column(Text)
    runbook_id: Mapped[str | None] = mapped_column(String(200))
    # As configured until the message is delivered; then the ID Slack answered with.
    channel_id: Mapped[str] = mapped_column(String(64))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    # Its Alertmanager group (digest) and the alert whose message shows it (groups.py).
    group_key: Mapped[str | None] = mapped_column(String(64))
    lead_id: Mapped[int | None] = mapped_column(BigId)

    __table_args__ = (
        UniqueConstraint("fingerprint", "starts_at", name="uq_alert_firing"),
        Index("ix_alerts_fingerprint_id", "fingerprint", "id"),
        Index("ix_alerts_group_status", "group_key", "status", "id"),
        Index("ix_alerts_lead", "lead_id"),
    )


class SlackPace(Base):
    """One shared rate budget per Slack bucket (a channel's posts, a Web API
    method): GCRA's theoretical arrival time of the next call, and after a 429
    when Slack said to come back (``bot/slack/pace.py``)."""

    __tablename__ = "slack_pace"

    bucket: Mapped[str] = mapped_column(String(128), primary_key=True)
    tat: Mapped[datetime]
    blocked_until: Mapped[datetime | None]


class SlackProblem(Base):
    """What Slack refuses until someone acts: ``auth`` (a revoked token: every
    call held, a probe every 30 s) or ``channel:<id>`` (archived, the bot
    removed: its messages fail at once, its incidents' clocks pause)."""

    __tablename__ = "slack_problems"

    scope: Mapped[str] = mapped_column(String(128), primary_key=True)
    error: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="", server_default="")
    since: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime | None]


from bot.store.executions import Execution  # noqa: E402,F401  (registers its table on Base)

# Its own module (this one is full); imported here so the metadata has it.
from bot.store.followup import Followup as Followup  # noqa: E402
