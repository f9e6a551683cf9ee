"""App Home refresh within Slack's limits: only recent viewers are refreshed,
within ``views.publish``'s tier (oldest view first when more are behind than
that allows), and a failed publish is retried."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.home.publisher import HomePublisher
from bot.slack.pace import Priority
from bot.store.models import HomeViewer, utcnow
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer
from tests.test_home import open_home, publishes, until, wait_for_count, wait_home


async def set_opened(bot: BotServer, user: str, ago: timedelta) -> None:
    async with bot.ctx.sessions() as session, session.begin():
        await session.execute(
            update(HomeViewer).where(HomeViewer.user_id == user).values(opened_at=utcnow() - ago)
        )


async def test_only_recent_viewers_are_refreshed(make_bot: BotFactory, slack: SlackStandIn) -> None:
    bot = await make_bot(home_refresh_interval=0.5)
    assert bot.settings.home_recent_window == 900.0  # 15 minutes unless set
    for user in ("UOLD", "UNEW"):
        await open_home(bot, user)
        # The first view may go before the insights are ready; the one owed follows.
        await wait_home(slack, user, lambda t: "Insights, last 90 days" in t)
    old_views = len(publishes(slack, "UOLD"))
    await set_opened(bot, "UOLD", timedelta(minutes=20))
    await set_opened(bot, "UNEW", timedelta(minutes=14))
    await bot.command("/incident", "declare Checkout errors")
    await wait_home(slack, "UNEW", lambda t: "Open incidents (1)" in t)
    await bot.command("/incident", "declare Queue stuck")
    await wait_home(slack, "UNEW", lambda t: "Open incidents (2)" in t)
    assert len(publishes(slack, "UOLD")) == old_views  # not refreshed
    # Opening the tab again gives the old viewer a fresh view at once.
    await open_home(bot, "UOLD")
    await wait_home(slack, "UOLD", lambda t: "Open incidents (2)" in t)


async def test_a_failed_publish_is_retried(make_bot: BotFactory, slack: SlackStandIn) -> None:
    bot = await make_bot(home_refresh_interval=0.5)
    await open_home(bot, "UALICE")
    await wait_home(slack, "UALICE", lambda t: "Insights, last 90 days" in t)  # none owed
    slack.fail("views.publish", status=200, error="internal_error")
    await bot.command("/incident", "declare Checkout errors")
    await until(lambda: any(r.method == "views.publish" for r in slack.rejected))
    # No further change: the refresh tries again by itself.
    await wait_home(slack, "UALICE", lambda t: "Open incidents (1)" in t)
    async with bot.ctx.sessions() as session:
        viewer = await session.get(HomeViewer, "UALICE")
        assert viewer is not None and viewer.published_mark >= 1


class RoomFor:
    """A rate budget with room for ``n`` calls, then none (the shared one's
    arithmetic is tested in tests/test_slack_budget.py)."""

    def __init__(self, n: int) -> None:
        self.left = n

    async def take(self, bucket: str, priority: Priority) -> float:
        return 0.0 if await self.take_many(bucket, 1, priority) else 60.0

    async def take_many(self, bucket: str, n: int, priority: Priority) -> int:
        granted = min(n, self.left)
        self.left -= granted
        return granted

    async def refused(self, bucket: str, retry_after: float) -> None:
        self.left = 0


async def test_more_viewers_than_the_tier_allows_are_spread_oldest_view_first(
    make_bot: BotFactory, slack: SlackStandIn
) -> None:
    bot = await make_bot()
    users = [f"UVIEWER{n}" for n in range(6)]
    for user in users:
        await open_home(bot, user)
        await wait_for_count(slack, user, 1)
    await bot.ctx.home.stop()  # only the publisher below refreshes
    await bot.command("/incident", "declare Checkout errors")
    await bot.settle()
    now = utcnow()
    async with bot.ctx.sessions() as session, session.begin():
        for n, user in enumerate(users):  # UVIEWER5's view is the oldest
            published = now - timedelta(minutes=1, seconds=n)
            await session.execute(
                update(HomeViewer).where(HomeViewer.user_id == user).values(published_at=published)
            )
    # views.publish's shared budget has room for 3 views now, then none.
    slow = HomePublisher(
        bot.ctx.sessions,
        bot.ctx.client,
        bot.ctx.library,
        postgres=True,
        refresh_interval=10.0,
        validation_interval=bot.settings.validation_interval,
        budgets=RoomFor(3),
    )
    slack.clear()
    try:
        assert await slow.refresh(now) == 3
        assert await slow.refresh(now) == 0  # the rest wait their turn
    finally:
        await slow.stop()
    assert len(slack.calls_to("views.publish")) == 3
    sent = {c.args["user_id"] for c in slack.calls_to("views.publish")}
    assert sent == {"UVIEWER5", "UVIEWER4", "UVIEWER3"}
    async with bot.ctx.sessions() as session:
        behind = await session.execute(
            select(HomeViewer.user_id).where(HomeViewer.published_at < now)
        )
        assert sorted(behind.scalars()) == ["UVIEWER0", "UVIEWER1", "UVIEWER2"]
