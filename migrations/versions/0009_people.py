"""People: the Slack handle last seen for each user id.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-16

- ``people``: user id → the handle (``user_name`` / ``user.username``) Slack
  sent with that user's last request the bot acted on, and when. The
  validation log's Markdown shows these names instead of ids (SPEC §8 keeps
  ids in JSON). Written by the intake worker, never on the ack path.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("user_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("people")
