"""The database: tables, engine and sessions, migrations, housekeeping.

- ``models`` — the SQLAlchemy tables (the migrations create exactly these).
- ``states`` — names for the stored states and timeline kinds (StrEnums,
  the columns' own values) and the ordering / collapse keys (pure);
  ``columns`` — shared column types; ``backend`` — PostgreSQL or SQLite,
  asked of a session.
- ``db`` — engine and session factory (built by the app factory, never at
  import time), and which errors mean "database unavailable".
- ``writes`` — append-only rows buffered per session, one INSERT per table.
- ``migrate`` — Alembic from code (``runbook-bot migrate`` / ``serve``).
- ``retention`` — forgetting delivered messages and old idempotency keys.
- ``urls`` — what ``DATABASE_URL`` names; ``direct`` — a read-only connection
  straight over asyncpg / sqlite3 (``runbook-bot stats``). Neither imports
  SQLAlchemy.
- ``people`` — Slack handles by user id (recorded by the intake worker, once
  per (id, name) per process), for the validation log's Markdown.

May import: the root helpers (``bot.tasks``) only: every other package builds
on this one.
"""
