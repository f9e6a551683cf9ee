"""Alerts from Alertmanager: one row per firing, with its Slack message.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

``POST /alerts/alertmanager`` (``bot/alerts/``) records each firing alert
here once — unique on (fingerprint, starts_at), so a repeated or retried
notification finds its row — with the message posted for it (its ts arrives
when delivered), who acknowledged it and the incident opened from it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("alertname", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starts_at", Timestamp, nullable=False),
        sa.Column("ends_at", Timestamp, nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("generator_url", sa.Text(), nullable=True),
        sa.Column("runbook_id", sa.String(200), nullable=True),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=True),
        sa.Column("incident_id", BigId, sa.ForeignKey("incidents.id"), nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", Timestamp, nullable=True),
        sa.Column("received_at", Timestamp, nullable=False),
        sa.Column("resolved_at", Timestamp, nullable=True),
        sa.UniqueConstraint("fingerprint", "starts_at", name="uq_alert_firing"),
    )
    op.create_index("ix_alerts_fingerprint_id", "alerts", ["fingerprint", "id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_fingerprint_id", table_name="alerts")
    op.drop_table("alerts")
