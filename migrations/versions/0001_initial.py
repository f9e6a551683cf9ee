"""Initial schema: incidents, runs, step decisions, timeline, Slack outbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Mirrors ``bot/store/models.py`` (``tests/test_migrations.py`` compares them). On
PostgreSQL a trigger also makes ``timeline_events`` append-only: UPDATE and
DELETE raise, TRUNCATE (tests, maintenance) stays allowed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGSERIAL ids on PostgreSQL; on SQLite an INTEGER PRIMARY KEY is the rowid alias.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Timezone-aware timestamps (bot.models.UTCDateTime stores UTC).
Timestamp = sa.DateTime(timezone=True)

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION timeline_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'timeline_events is append-only (% rejected)', TG_OP;
END;
$$
"""

APPEND_ONLY_TRIGGER = """
CREATE TRIGGER timeline_events_append_only
BEFORE UPDATE OR DELETE ON timeline_events
FOR EACH ROW EXECUTE FUNCTION timeline_events_append_only()
"""


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=True),
        sa.Column("opened_at", Timestamp, nullable=False),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("resolved_at", Timestamp, nullable=True),
        sa.Column("last_update_at", Timestamp, nullable=True),
        sa.Column("next_reminder_at", Timestamp, nullable=True),
        sa.Column("thread_ts", sa.String(32), nullable=True),
    )
    op.create_index("ix_incidents_channel_state", "incidents", ["channel_id", "state"])
    op.create_index("ix_incidents_next_reminder_at", "incidents", ["next_reminder_at"])

    op.create_table(
        "runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("runbook_id", sa.String(200), nullable=False),
        sa.Column("runbook_title", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("started_by", sa.String(64), nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("ended_at", Timestamp, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rollback_state", sa.String(16), nullable=False),
    )
    op.create_index("ix_runs_incident", "runs", ["incident_id"])

    op.create_table(
        "step_decisions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=False),
        sa.Column("decided_at", Timestamp, nullable=False),
        # One decision per step: a second click loses here, not in memory.
        sa.UniqueConstraint("run_id", "step_index", name="uq_step_decision"),
    )

    op.create_table(
        "timeline_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_timeline_incident_id", "timeline_events", ["incident_id", "id"])

    op.create_table(
        "slack_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("ordering_key", sa.String(64), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("thread_from", BigId, nullable=True),
        sa.Column("on_delivered", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.Column("locked_until", Timestamp, nullable=True),
        sa.Column("result_ts", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("sent_at", Timestamp, nullable=True),
    )
    op.create_index("ix_outbox_state_id", "slack_outbox", ["state", "id"])
    op.create_index("ix_outbox_key_state_id", "slack_outbox", ["ordering_key", "state", "id"])

    op.create_table(
        "handled_requests",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("at", Timestamp, nullable=False),
    )

    if _is_postgresql():
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    if _is_postgresql():
        op.execute("DROP TRIGGER IF EXISTS timeline_events_append_only ON timeline_events")
        op.execute("DROP FUNCTION IF EXISTS timeline_events_append_only()")

    op.drop_table("handled_requests")
    op.drop_index("ix_outbox_key_state_id", table_name="slack_outbox")
    op.drop_index("ix_outbox_state_id", table_name="slack_outbox")
    op.drop_table("slack_outbox")
    op.drop_index("ix_timeline_incident_id", table_name="timeline_events")
    op.drop_table("timeline_events")
    op.drop_table("step_decisions")
    op.drop_index("ix_runs_incident", table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_incidents_next_reminder_at", table_name="incidents")
    op.drop_index("ix_incidents_channel_state", table_name="incidents")
    op.drop_table("incidents")
