"""Targeted wake-ups: say what was added, and let a worker's own commits stay quiet.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

PostgreSQL only. The triggers of migrations 0002 and 0003 sent one empty
``pg_notify`` for intake rows and Slack messages alike, so every notification
woke the intake loops, the outbox and the reminders of every listening
worker — including the worker whose own transaction sent it, which already
knew. Now:

- the payload names the table: ``intake``, ``outbox``, or (unchanged) the new
  incident's first reminder due time, so a listener wakes only the loop that
  has work;
- a connection with ``runbook_bot.wake = off`` (the worker process's own
  connections, ``bot/store/db.py``) does not notify at all: that process wakes its
  loops in memory after the commit. Every notifying transaction takes
  PostgreSQL's cluster-wide NOTIFY lock through its commit (WAL flush
  included), so the worker's commits no longer queue the serving process's
  intake commits — the ones Slack's ack waits for — behind them.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "runbook_bot_wake"
# Unset (NULL) or anything but 'off': notify, as before.
QUIET = "current_setting('runbook_bot.wake', true) IS NOT DISTINCT FROM 'off'"


def _table_wake(name: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION runbook_bot_{name}_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT {QUIET} THEN
        PERFORM pg_notify('{CHANNEL}', '{name}');
    END IF;
    RETURN NULL;
END;
$$
"""


UPGRADE = [
    _table_wake("outbox"),
    _table_wake("intake"),
    "DROP TRIGGER IF EXISTS intake_wake ON intake",
    """
CREATE TRIGGER intake_wake
AFTER INSERT ON intake
FOR EACH STATEMENT EXECUTE FUNCTION runbook_bot_intake_wake()
""",
    f"""
CREATE OR REPLACE FUNCTION runbook_bot_incident_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.next_reminder_at IS NOT NULL AND NOT {QUIET} THEN
        PERFORM pg_notify('{CHANNEL}', to_json(NEW.next_reminder_at) #>> '{{}}');
    END IF;
    RETURN NULL;
END;
$$
""",
]

# Back to 0003: one function for both tables, empty payload, always notify.
DOWNGRADE = [
    f"""
CREATE OR REPLACE FUNCTION runbook_bot_outbox_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END;
$$
""",
    "DROP TRIGGER IF EXISTS intake_wake ON intake",
    """
CREATE TRIGGER intake_wake
AFTER INSERT ON intake
FOR EACH STATEMENT EXECUTE FUNCTION runbook_bot_outbox_wake()
""",
    "DROP FUNCTION IF EXISTS runbook_bot_intake_wake()",
    f"""
CREATE OR REPLACE FUNCTION runbook_bot_incident_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.next_reminder_at IS NOT NULL THEN
        PERFORM pg_notify('{CHANNEL}', to_json(NEW.next_reminder_at) #>> '{{}}');
    END IF;
    RETURN NULL;
END;
$$
""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in DOWNGRADE:
            op.execute(statement)
