"""Follow-ups: the actions a team agrees on after an incident.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

- ``followups``: one row per follow-up (its incident, text, owner, due time,
  and when and by whom it was done).
- ``deadlines.followup_id``: the follow-up an overdue deadline belongs to (the
  same claim-once machinery as response targets and RTO clocks).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_followups_incident", "followups", ["incident_id"])
    op.create_index("ix_followups_owner", "followups", ["owner"])
    with op.batch_alter_table("deadlines") as batch:
        batch.add_column(sa.Column("followup_id", BigId, nullable=True))
        batch.create_foreign_key("fk_deadlines_followup", "followups", ["followup_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("deadlines") as batch:
        batch.drop_constraint("fk_deadlines_followup", type_="foreignkey")
        batch.drop_column("followup_id")
    op.drop_index("ix_followups_owner", "followups")
    op.drop_index("ix_followups_incident", "followups")
    op.drop_table("followups")
