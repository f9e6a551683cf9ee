"""Slack at its real pace: message priority, collapsing updates, shared rate
budgets and what Slack refuses for good.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

- ``slack_outbox.priority``: what goes first in a channel (0 = a click's
  update and next step, 1 = escalations, 2 = alerts, 3 = reminders, 4 = the
  rest); the claim takes heads in that order.
- ``slack_outbox.collapse_key``: pending rows with the same key collapse
  into the latest (an alert group's message updated many times while it
  waits for Slack's pace goes once, with the newest content).
- ``slack_pace``: one rate budget per Slack bucket (a channel's posts, a Web
  API method), shared by every bot process: the theoretical arrival time of
  the next call (GCRA) and, after a 429, when Slack said to come back.
- ``slack_problems``: what makes Slack unusable (``auth``: a revoked token)
  or a channel unreachable (``channel:<id>``: archived, bot removed), so every
  process holds its calls, pauses that channel's clocks and shows it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("slack_outbox") as batch:
        batch.add_column(
            sa.Column("priority", sa.SmallInteger(), nullable=False, server_default="4")
        )
        batch.add_column(sa.Column("collapse_key", sa.String(128), nullable=True))
    op.create_index(
        "ix_outbox_collapse_pending",
        "slack_outbox",
        ["collapse_key"],
        postgresql_where=sa.text("state = 'pending' AND collapse_key IS NOT NULL"),
        sqlite_where=sa.text("state = 'pending' AND collapse_key IS NOT NULL"),
    )
    op.create_table(
        "slack_pace",
        sa.Column("bucket", sa.String(128), primary_key=True),
        sa.Column("tat", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "slack_problems",
        sa.Column("scope", sa.String(128), primary_key=True),
        sa.Column("error", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("slack_problems")
    op.drop_table("slack_pace")
    op.drop_index("ix_outbox_collapse_pending", table_name="slack_outbox")
    with op.batch_alter_table("slack_outbox") as batch:
        batch.drop_column("collapse_key")
        batch.drop_column("priority")
