"""Requests acknowledged before they are acted on (clicks, ``/runbook start``).

- ``writer`` — the ack path's one write: intake rows, group-committed.
- ``worker`` — claims committed items and acts on each in one transaction.
- ``payloads`` — each kind's payload as a frozen dataclass (``to_json`` /
  ``from_json``, reading rows an earlier release wrote).
- ``actions`` — what acting means per kind (decide a step, start a run).
- ``wakeup`` — LISTEN/NOTIFY, so another process wakes at commit.

May import: ``bot.runs``, ``bot.incidents``, ``bot.slack``, ``bot.store``,
``bot.runbook`` and the root helpers. Never ``commands``.
"""
