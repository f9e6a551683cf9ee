"""Housekeeping keeps what is owed and the incident record, forgets the rest."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.store.db import make_engine, make_sessionmaker
from bot.store.models import HandledRequest, Incident, OutboxMessage, TimelineEvent, utcnow
from bot.store.retention import prune


async def test_prune_forgets_only_delivered_messages_and_old_keys(clean_db: str) -> None:
    engine = make_engine(clean_db)
    sessions = make_sessionmaker(engine)
    now = utcnow()
    old, recent = now - timedelta(days=8), now - timedelta(hours=1)

    def message(state: str, sent_at, key: str) -> OutboxMessage:
        return OutboxMessage(
            ordering_key=key,
            method="chat.postMessage",
            payload={},
            state=state,
            attempts=0,
            next_attempt_at=old,
            created_at=old,
            sent_at=sent_at,
        )

    try:
        async with sessions() as session, session.begin():
            incident = Incident(channel_id="C", title="old", state="resolved", opened_at=old)
            session.add(incident)
            await session.flush()
            session.add(TimelineEvent(incident_id=incident.id, kind="note", at=old, text="x"))
            session.add_all(
                [
                    message("sent", old, "old-sent"),
                    message("sent", recent, "recent-sent"),
                    message("pending", None, "old-pending"),
                    message("failed", None, "old-failed"),
                    HandledRequest(key="trigger:old", at=now - timedelta(days=2)),
                    HandledRequest(key="trigger:new", at=recent),
                ]
            )
        assert await prune(sessions, now=now) == (1, 1)
        async with sessions() as session:
            keys = set((await session.execute(select(OutboxMessage.ordering_key))).scalars())
            assert keys == {"recent-sent", "old-pending", "old-failed"}
            requests = set((await session.execute(select(HandledRequest.key))).scalars())
            assert requests == {"trigger:new"}
            # The timeline is the incident record: never pruned.
            assert (await session.execute(select(func.count(TimelineEvent.id)))).scalar() == 1
        assert await prune(sessions, now=now) == (0, 0)
    finally:
        await engine.dispose()
