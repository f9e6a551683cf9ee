"""The bot's App Home tab (SPEC §8): what is going on, in one view per person.

- ``view`` (pure): the home view — open incidents (ID, priority, title, age,
  commander, time since the last status update, the running runbook's step k
  of n, a link to the incident's thread), drills due, the last runs with their
  results, insights — and the **Declare incident** modal. Within Block Kit's
  100 blocks whatever the number of incidents: the most urgent are listed, the
  rest counted.
- ``data``: reads what the view shows in a handful of indexed queries.
- ``publisher``: ``views.publish`` when someone opens the tab, and again for
  everyone who opened it when the timeline moves — at most once per viewer per
  ``HOME_REFRESH_INTERVAL`` (changes in between are coalesced), claimed in the
  database so several processes publish once. Thread permalinks
  (``chat.getPermalink``) are cached.

May import ``bot.drills``, ``bot.incidents``, ``bot.runbook``, ``bot.slack``,
``bot.store``; never ``commands/``.
"""
