"""Runs: a runbook being walked step by step.

- ``engine`` — the run state machine (pure: plain data in, decisions out).
- ``blocks``, ``catalog_blocks`` — Block Kit for run/step messages and for
  ``/runbook help | list | show`` (pure).
- ``flows`` — start / decide / abort, each one transaction that records the
  decision, appends the timeline and enqueues the Slack messages it owes;
  ``decide`` (one function per outcome), ``ending`` (a run's end, completed
  or aborted), ``aborting`` (the abort asked for in Slack).
- ``messaging`` — every Slack message a run owes (ordering key, priority,
  collapse key).
- ``queries`` — reading runs back (state, messages, the runs in a channel).
- Executable steps: ``running`` (a Run click: judged by the gate, its
  execution recorded), ``action_runner`` (runs it in the worker),
  ``action_end`` (its end; executions cut short marked in doubt),
  ``executions`` (the rows, at most once), ``executor`` (the program or the
  HTTP request), ``action_blocks`` (Block Kit, pure).

May import: ``bot.runbook``, ``bot.incidents``, ``bot.slack``, ``bot.store``
and the root helpers (``bot.timefmt``, ``bot.tasks``). Never ``commands``.
The pure modules (``engine``, ``blocks``, ``catalog_blocks``, ``step_blocks``,
``action_blocks``, ``gates``) import no
SQLAlchemy, Bolt or aiohttp.
"""
