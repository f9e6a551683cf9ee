"""Alert groups: the alerts of one Alertmanager group share one message.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

- ``alerts.group_key``: the Alertmanager group the alert arrived in (a digest
  of the receiver and the payload's ``groupKey``: group keys hold label values
  of any length, an index needs a bounded key); NULL when the sender gave none.
- ``alerts.lead_id``: the alert whose row holds the Slack message this alert
  is shown in — the first alert of the group's current episode (itself for a
  lone alert). Existing alerts keep their own messages (``lead_id = id``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("group_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lead_id", BigId, nullable=True))
    op.execute("UPDATE alerts SET lead_id = id")
    # The group's open episode: its latest firing alert (deliveries of a group).
    op.create_index("ix_alerts_group_status", "alerts", ["group_key", "status", "id"])
    # An episode's members (every delivery and click of the group renders them).
    op.create_index("ix_alerts_lead", "alerts", ["lead_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_lead", table_name="alerts")
    op.drop_index("ix_alerts_group_status", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("lead_id")
        batch.drop_column("group_key")
