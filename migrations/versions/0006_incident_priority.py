"""Incident priority, acknowledgement, roles; durable deadlines (SPEC §7).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

- ``incidents``: ``priority`` (a ``PRIORITY_LEVELS`` name; existing rows get
  ``medium``), ``acknowledged_at`` / ``acknowledged_by``, ``roles`` (JSON,
  role → Slack user ID).
- ``deadlines``: response targets and RTO clocks, one row per clock, fired
  once (``fired_at``). A partial index holds only the pending ones.
- PostgreSQL only: statement-level triggers NOTIFY ``runbook_bot_wake`` with
  ``deadline:<earliest new due time>`` when rows are added or moved, so a
  sleeping worker in another process moves its wake-up earlier (one
  notification per statement, however many rows — a bulk insert of 10,000
  clocks costs one). Connections with ``runbook_bot.wake = off`` stay quiet,
  as in migration 0004.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
CHANNEL = "runbook_bot_wake"
QUIET = "current_setting('runbook_bot.wake', true) IS NOT DISTINCT FROM 'off'"

WAKE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION runbook_bot_deadline_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    earliest timestamptz;
BEGIN
    IF {QUIET} THEN
        RETURN NULL;
    END IF;
    SELECT min(due_at) INTO earliest FROM changed WHERE fired_at IS NULL;
    IF earliest IS NOT NULL THEN
        PERFORM pg_notify('{CHANNEL}', 'deadline:' || (to_json(earliest) #>> '{{}}'));
    END IF;
    RETURN NULL;
END;
$$
"""

TRIGGERS = [
    """
CREATE TRIGGER deadlines_wake_insert
AFTER INSERT ON deadlines REFERENCING NEW TABLE AS changed
FOR EACH STATEMENT EXECUTE FUNCTION runbook_bot_deadline_wake()
""",
    """
CREATE TRIGGER deadlines_wake_update
AFTER UPDATE ON deadlines REFERENCING NEW TABLE AS changed
FOR EACH STATEMENT EXECUTE FUNCTION runbook_bot_deadline_wake()
""",
]


def upgrade() -> None:
    op.add_column(
        "incidents",
        sa.Column("priority", sa.String(32), nullable=False, server_default="medium"),
    )
    op.add_column("incidents", sa.Column("acknowledged_at", Timestamp, nullable=True))
    op.add_column("incidents", sa.Column("acknowledged_by", sa.String(64), nullable=True))
    op.add_column("incidents", sa.Column("roles", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "deadlines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("due_at", Timestamp, nullable=False),
        sa.Column("fired_at", Timestamp, nullable=True),
    )
    op.create_index(
        "ix_deadlines_pending_due",
        "deadlines",
        ["due_at"],
        postgresql_where=sa.text("fired_at IS NULL"),
        sqlite_where=sa.text("fired_at IS NULL"),
    )
    op.create_index("ix_deadlines_incident", "deadlines", ["incident_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(WAKE_FUNCTION)
        for statement in TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS deadlines_wake_update ON deadlines")
        op.execute("DROP TRIGGER IF EXISTS deadlines_wake_insert ON deadlines")
        op.execute("DROP FUNCTION IF EXISTS runbook_bot_deadline_wake()")
    op.drop_index("ix_deadlines_incident", table_name="deadlines")
    op.drop_index("ix_deadlines_pending_due", table_name="deadlines")
    op.drop_table("deadlines")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("roles")
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
        batch.drop_column("priority")
