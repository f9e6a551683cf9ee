"""Executable steps: one ``executions`` row per run of an action.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Committed before the action starts and unique on (run, step, attempt), so two
Run clicks start one execution; a row left ``running`` by a process that died
is marked ``in_doubt`` and never rerun by itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("run_id", BigId, sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("step_index", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_by", sa.String(64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("owner", sa.BigInteger(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.UniqueConstraint("run_id", "step_index", "attempt", name="uq_execution_step_attempt"),
    )
    op.create_index("ix_executions_state", "executions", ["state"])


def downgrade() -> None:
    op.drop_index("ix_executions_state", table_name="executions")
    op.drop_table("executions")
