"""Drills, the validation log, App Home viewers, indexes for insights.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-14

- ``incidents.drill`` / ``drill_environment``: an incident opened by
  ``/runbook drill`` (SPEC §8), shown as DRILL everywhere, left out of insights.
- ``validations``: one row per drill run that completed or was aborted — the
  runbook's Validation Log (seed ``004_…``). Append-only like the timeline:
  on PostgreSQL a trigger rejects UPDATE and DELETE (TRUNCATE stays allowed).
- ``home_viewers``: who opened the App Home and which timeline event the view
  they were last sent reflects, so a change republishes it (debounced).
- Indexes for ``runbook-bot stats``, history and App Home: incidents by open
  time, runs by start time (and per runbook).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION validations_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'validations is append-only (% rejected)', TG_OP;
END;
$$
"""

APPEND_ONLY_TRIGGER = """
CREATE TRIGGER validations_append_only
BEFORE UPDATE OR DELETE ON validations
FOR EACH ROW EXECUTE FUNCTION validations_append_only()
"""


def _is_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("drill", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("drill_environment", sa.String(64), nullable=True))
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_runbook_started", "runs", ["runbook_id", "started_at"])
    op.create_table(
        "validations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("runbook_id", sa.String(200), nullable=False),
        sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id"), nullable=False, unique=True),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("validators", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_validations_runbook_at", "validations", ["runbook_id", "at"])
    op.create_table(
        "home_viewers",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("opened_at", Timestamp, nullable=False),
        sa.Column("published_at", Timestamp, nullable=True),
        sa.Column("published_mark", sa.BigInteger(), nullable=False),
    )
    if _is_postgresql():
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    if _is_postgresql():
        op.execute("DROP TRIGGER IF EXISTS validations_append_only ON validations")
        op.execute("DROP FUNCTION IF EXISTS validations_append_only()")
    op.drop_table("home_viewers")
    op.drop_index("ix_validations_runbook_at", table_name="validations")
    op.drop_table("validations")
    op.drop_index("ix_runs_runbook_started", table_name="runs")
    op.drop_index("ix_runs_started_at", table_name="runs")
    op.drop_index("ix_incidents_opened_at", table_name="incidents")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("drill_environment")
        batch.drop_column("drill")
