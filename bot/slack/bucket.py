"""One Web API method's budget, for background loops that choose how much to
do per round (the App Home refresh, the user-group listing): the budget is
the one every process shares (``bot/slack/budget.py``), so the loops of
several workers together stay within the method's tier."""

from __future__ import annotations

from bot.slack.budget import Budgets, wait_for_slot
from bot.slack.pace import Priority, bucket_of


class Bucket:
    def __init__(self, budgets: Budgets, method: str, priority: Priority = Priority.OTHER) -> None:
        self._budgets = budgets
        self._bucket = bucket_of(method, None)
        self._priority = priority

    async def take(self) -> None:
        """Wait for one call's turn, and count it."""
        await wait_for_slot(self._budgets, self._bucket, self._priority)

    async def take_up_to(self, n: int, priority: Priority | None = None) -> int:
        """Up to ``n`` calls now (counted): how many may go."""
        return await self._budgets.take_many(self._bucket, n, priority or self._priority)
