"""Hostile requests through the doors they use: the Alertmanager webhook and
signed Slack requests. One bad item is refused or repaired alone; it never
fails, stalls or fools the handling of the others."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.store.models import Alert
from tests.alert_support import CHANNEL, TOKEN, alert_count, deliver, member, notification, until
from tests.alert_support import runbooks as alert_runbooks
from tests.conftest import BotFactory
from tests.rig import SlackStandIn
from tests.rig.botserver import BotServer


@pytest.fixture
async def alerting(make_bot: BotFactory, tmp_path: Path) -> BotServer:
    return await make_bot(
        alert_webhook_token=TOKEN, alert_channel=CHANNEL, runbooks_dir=alert_runbooks(tmp_path)
    )


async def test_lone_surrogate_in_an_alert_does_not_fail_the_delivery(
    alerting: BotServer, slack: SlackStandIn
) -> None:
    alerts = [member(i) for i in range(6)]
    alerts[2]["labels"]["pod"] = "web-\udcff"  # JSON "\udcff": no UTF-8 form
    alerts[4]["annotations"]["summary"] = "disk \ud800 full"
    status, body = await deliver(alerting, notification(*alerts))
    assert status == 200, body
    await until(lambda: _count_is(alerting, 6))
    async with alerting.ctx.sessions() as session:
        labels = (await session.execute(select(Alert.labels))).scalars().all()
    assert {"web-\ufffd"} <= {str(dict(row).get("pod")) for row in labels}
    # The intake is not left poisoned: a command in another channel still answers.
    reply = await alerting.command("/incident", "list", channel_id="C0OTHER")
    assert reply.status == 200 and "database" not in reply.text.lower(), reply.text


async def _count_is(bot: BotServer, n: int) -> bool:
    return await alert_count(bot) == n
