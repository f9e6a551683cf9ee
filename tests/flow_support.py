"""The middle tier: flows called directly with a real PostgreSQL session (no
Slack, no HTTP), asserting the rows and the outbox payloads they leave."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.incidents.priority import PriorityPolicy, parse_priority_levels
from bot.runbook import Runbook
from bot.store.db import make_engine, make_sessionmaker
from bot.store.models import OutboxMessage, TimelineEvent
from tests.runbook_support import ok

POLICY = PriorityPolicy(
    tuple(parse_priority_levels("critical=15m,high=1h,medium=4h,low=24h")),
    default="high",
    status_interval=1800,
)

TWO_STEPS = """
---
id: RB-T
title: Two steps
rto: 30m
---
# Two steps

## Mitigate
1. Drain the node.
2. Restart the service.
"""


def runbook(text: str = TWO_STEPS) -> Runbook:
    return ok(text, "runbooks/RB-T.md")


@pytest.fixture
async def sessions(clean_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(clean_db, pool_size=2)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def outbox(session: AsyncSession) -> list[OutboxMessage]:
    return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def kinds(session: AsyncSession) -> list[str]:
    rows = await session.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id))
    return [str(k) for k in rows.scalars()]


def texts(payload: dict[str, Any]) -> str:
    """Everything a message says (its text and its blocks' text), for assertions."""
    return str(payload)
