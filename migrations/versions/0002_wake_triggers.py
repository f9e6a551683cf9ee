"""Wake the workers from the database: NOTIFY on new Slack messages and incidents.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

PostgreSQL only. A statement-level trigger on ``slack_outbox`` and a row-level
one on ``incidents`` send ``pg_notify('runbook_bot_wake', …)``; notifications
are delivered at commit (never for a rolled-back transaction) and PostgreSQL
folds identical ones within a transaction. The payload is empty, or the new
incident's first reminder due time (ISO 8601), so a sleeping worker can move
its wake-up earlier. Before this, the bot sent the NOTIFY itself: one more
round trip in front of every acknowledgement.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "runbook_bot_wake"

UPGRADE = [
    f"""
CREATE FUNCTION runbook_bot_outbox_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END;
$$
""",
    """
CREATE TRIGGER slack_outbox_wake
AFTER INSERT ON slack_outbox
FOR EACH STATEMENT EXECUTE FUNCTION runbook_bot_outbox_wake()
""",
    f"""
CREATE FUNCTION runbook_bot_incident_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.next_reminder_at IS NOT NULL THEN
        PERFORM pg_notify('{CHANNEL}', to_json(NEW.next_reminder_at) #>> '{{}}');
    END IF;
    RETURN NULL;
END;
$$
""",
    """
CREATE TRIGGER incidents_wake
AFTER INSERT ON incidents
FOR EACH ROW EXECUTE FUNCTION runbook_bot_incident_wake()
""",
]

DOWNGRADE = [
    "DROP TRIGGER IF EXISTS incidents_wake ON incidents",
    "DROP FUNCTION IF EXISTS runbook_bot_incident_wake()",
    "DROP TRIGGER IF EXISTS slack_outbox_wake ON slack_outbox",
    "DROP FUNCTION IF EXISTS runbook_bot_outbox_wake()",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
