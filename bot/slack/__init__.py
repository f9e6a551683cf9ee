"""Talking to Slack: mrkdwn, Block Kit primitives, the outbox and its delivery.

- ``mrkdwn`` — Markdown → Slack mrkdwn, escaping, splitting (pure).
- ``blockkit`` — Block Kit limits and building blocks shared by every
  renderer (pure).
- ``outbox`` — enqueue the Web API writes a transaction owes.
- ``outbox_rows``, ``delivery``, ``webapi`` — the worker that delivers them
  after the commit, in order per key, retrying 429/5xx; ``sent_marks`` —
  "sent" committed per message before the key's next one (group-committed).
- ``owner`` — who holds a lease, checkable by the database (an advisory lock
  per live worker); ``lookup`` — whether a message in doubt after a crash is
  already in Slack (by the metadata every post carries).
- ``untrusted`` — text from outside made valid UTF-8 at the edge (pure).
- ``approvers`` — who may decide steps (``APPROVERS``), user groups resolved
  through ``usergroups.users.list`` and cached.

May import: ``bot.store`` and the root helpers. Never ``bot.runs``,
``bot.incidents``, ``bot.intake`` or ``commands``. ``mrkdwn`` and
``blockkit`` import no SQLAlchemy, Bolt or aiohttp.
"""
