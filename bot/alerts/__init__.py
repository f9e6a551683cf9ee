"""Alerts: Prometheus alerts from Alertmanager's webhook open the right runbook (SPEC §10).

- ``payload`` — Alertmanager's webhook payload (version 4) parsed and checked
  into plain data (pure).
- ``lookup`` — which runbook an alert means: ``runbook_url``'s last path
  segment, else the alert name, against each runbook's id and file stem (pure).
- ``priority`` — an alert's ``severity`` label → an incident priority level (pure).
- ``blocks`` — the alert message's Block Kit, over plain data (pure).
- ``service`` — the alerts table inside the caller's transaction: record a
  firing (with its group and lead), a resolution, the incident opened from it.
- ``groups`` — one message per alert group episode: its post, its updates
  (collapsing while they wait for Slack), ``alert_resolved`` when it ends.
- ``actions`` — the intake handlers (webhook deliveries and the alert
  message's buttons), each acted on in the intake worker's transaction.
- ``webhook`` — ``POST /alerts/alertmanager``: bearer token, parse, commit to
  the intake, answer.

May import: ``bot.runs``, ``bot.incidents``, ``bot.intake``, ``bot.slack``,
``bot.store``, ``bot.runbook`` and the root helpers. Never ``commands``; no
other package imports this one (the app factory wires its handlers and route).
The pure modules (``payload``, ``lookup``, ``priority``, ``blocks``) import no
SQLAlchemy, Bolt or aiohttp.
"""
