"""Drills and what the bot learns from runs: the validation log, run history,
insights.

- ``validation`` (pure): a drill run's result — ``pass`` when it completed with
  no step skipped and within its RTO, else ``fail`` with the reason.
- ``log``: records a validation in the transaction that ends a drill's run
  (``bot/runs/flows.py`` calls it), lists them, says which runbooks are *due*.
- ``render`` (pure): the validation log as the seed's Markdown table or JSON,
  the due list, a runbook's history.
- ``history``: a runbook's recent runs and drills (``/runbook history``).
- ``stats``: insights over the last N days, drills excluded, computed in SQL
  (``percentile_cont`` on PostgreSQL, sorted durations per group on SQLite):
  SQL text run through a session (App Home) or a driver connection
  (``runbook-bot stats``, no SQLAlchemy); ``stats_render`` (pure) prints them.

May import ``bot.store`` and ``bot.runbook`` (and the root helpers); never
``bot.runs`` (which imports this package) or ``commands/``.
"""
