"""Outbox leases name their owner; messages whose delivery is in doubt are marked.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

- ``lease_owner``: the worker id that leased a row. On PostgreSQL a live
  worker holds a session-level advisory lock keyed by its id
  (``bot/slack/owner.py``), so a claim can tell a dead owner's lease from a
  live one's and take the first over at once instead of waiting it out.
- ``in_doubt``: Slack may already have this message (its owner died holding
  the lease, or the call's outcome is unknown): the worker looks it up by its
  metadata before posting it again (``bot/slack/lookup.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("slack_outbox") as batch:
        batch.add_column(sa.Column("lease_owner", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("in_doubt", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("slack_outbox") as batch:
        batch.drop_column("in_doubt")
        batch.drop_column("lease_owner")
