"""Incidents: lifecycle, the append-only timeline, reminders and their messages.

- ``service`` — open, update, note, resolve; timeline events; idempotency keys
  (each function works inside the caller's transaction).
- ``flows`` — the ``/incident`` verbs as whole transactions (lock, claim,
  act), called by the listener in ``commands/incident.py``.
- ``reminders`` — status-update reminders (the due time lives in the database).
- ``timeline`` — the export (``runbook-bot timeline``), JSON and Markdown.
- ``blocks`` — incident Block Kit (pure, over plain data: ``IncidentView``,
  ``EventView``; never ORM rows).

May import: ``bot.slack``, ``bot.store`` and the root helpers. Never
``bot.runs`` (runs build on incidents, not the other way) or ``commands``.
"""
