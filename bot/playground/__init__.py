"""The playground: the whole bot in a browser page, no Slack workspace needed (SPEC §9).

``runbook-bot playground`` runs the real Bolt app and the real worker in one
process; this package adds what Slack would otherwise be:

- ``workspace`` — the simulated workspace (users, channels, user groups,
  messages, threads, ephemerals, modals, App Home views) and its change feed;
- ``webapi`` — the Slack Web API stand-in the bot's ``AsyncWebClient`` calls
  (``SLACK_API_URL`` points here), answering from and writing to the workspace;
- ``slack_requests`` — Slack-shaped request bodies (slash commands,
  ``block_actions``, ``view_submission``, events), signed as Slack signs them;
- ``server`` — the wiring: settings built in code, the page and its WebSocket,
  the page's actions turned into signed requests to the real ``/slack/events``;
- ``draft`` — the postmortem draft of an incident as a page, from the
  playground's database (the loader and renderer ``runbook-bot postmortem`` uses);
- ``static/`` — the page itself: plain HTML, CSS and JavaScript, no build step.

It is wiring, like the root: ``server`` may import the app factory, the
settings and the migrations (``bot.app``, ``bot.settings``,
``bot.store.migrate``), and ``draft`` the postmortem draft's loader and
renderer; the other modules only ``workspace``, aiohttp and the standard
library. Never ``commands/`` directly (the app factory registers the
listeners) and never ``tests/``.
"""
