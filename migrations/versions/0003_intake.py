"""Intake: requests acknowledged but not yet acted on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

A click or ``/runbook start`` is committed to ``intake`` before the ack; a
worker acts on it right after (``bot/intake/worker.py``). On PostgreSQL a
statement-level trigger NOTIFYs the workers at commit, like migration 0002.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

WAKE_TRIGGER = """
CREATE TRIGGER intake_wake
AFTER INSERT ON intake
FOR EACH STATEMENT EXECUTE FUNCTION runbook_bot_outbox_wake()
"""


def upgrade() -> None:
    op.create_table(
        "intake",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ordering_key", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", Timestamp, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_intake_key_state_id", "intake", ["ordering_key", "state", "id"])
    if op.get_bind().dialect.name == "postgresql":
        # Reuses 0002's function: an empty payload means "work is waiting".
        op.execute(WAKE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS intake_wake ON intake")
    op.drop_index("ix_intake_key_state_id", table_name="intake")
    op.drop_table("intake")
