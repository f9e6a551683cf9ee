"""Incident flows called directly against PostgreSQL (bot/incidents/flows.py):
declare, a status update from the reminder's modal, snooze, a note, resolve;
the rows and outbox payloads they leave, and what a closed incident answers."""

from __future__ import annotations

from sqlalchemy import select

from bot.incidents import flows
from bot.store.models import Incident, OutboxMessage
from bot.store.states import EventKind, IncidentState, incident_key
from tests.flow_support import POLICY, kinds, outbox, sessions

__all__ = ["sessions"]


async def _declare(sessions, key: str | None = "view:V1") -> Incident:  # type: ignore[no-untyped-def]
    request = flows.Request("C1", "U1", key)
    outcome = await flows.declare(sessions, request, "Checkout down", policy=POLICY)
    assert outcome.delivered and outcome.deadline is not None
    async with sessions() as session:
        incident = (await session.execute(select(Incident))).scalar_one()
    return incident


async def test_declare_opens_an_incident_and_owes_its_message_once(sessions) -> None:
    incident = await _declare(sessions)
    again = await flows.declare(
        sessions, flows.Request("C1", "U1", "view:V1"), "Checkout down", policy=POLICY
    )
    assert not again.delivered  # a retried submission changes nothing
    async with sessions() as session:
        assert incident.state == IncidentState.OPEN
        assert await kinds(session) == [EventKind.INCIDENT_OPENED]
        rows = await outbox(session)
        assert [(r.ordering_key, r.method, r.on_delivered) for r in rows] == [
            (incident_key(incident.id), "chat.postMessage", incident_key(incident.id))
        ]
        assert rows[0].payload["channel"] == "C1"


async def test_an_update_from_the_modal_records_it_and_moves_the_reminder(sessions) -> None:
    incident = await _declare(sessions)
    update = flows.post_update("U2", "Rolled back", policy=POLICY, via="modal")
    outcome = await flows.act_on_open(sessions, flows.Request("", "U2"), incident.id, update)
    assert outcome.reply is None and outcome.delivered and outcome.due is not None
    async with sessions() as session:
        assert (await kinds(session))[-1] == EventKind.STATUS_UPDATE
        fresh = await session.get(Incident, incident.id)
        assert fresh is not None and fresh.next_reminder_at == outcome.due
        last = (await outbox(session))[-1]
        assert "Rolled back" in str(last.payload)


async def test_snooze_records_it_and_says_so_in_the_channel(sessions) -> None:
    incident = await _declare(sessions)
    outcome = await flows.act_on_open(
        sessions, flows.Request("C1", "U2"), incident.id, flows.snooze("U2", 30)
    )
    assert outcome.reply is None and outcome.due is not None
    async with sessions() as session:
        assert (await kinds(session))[-1] == EventKind.REMINDER_SNOOZED
        last = (await outbox(session))[-1]
        assert last.ordering_key == incident_key(incident.id)
        assert last.payload["channel"] == "C1"


async def test_a_resolved_incident_refuses_updates_and_records_nothing(sessions) -> None:
    incident = await _declare(sessions)
    resolved = await flows.act_on_open(
        sessions, flows.Request("C1", "U1"), incident.id, flows.resolve("U1", policy=POLICY)
    )
    assert resolved.delivered
    async with sessions() as session:
        before = (len(await kinds(session)), len(await outbox(session)))
    for action in (
        flows.post_update("U2", "late", policy=POLICY, via="modal"),
        flows.snooze("U2", 15),
        flows.add_note("U2", "late note"),
    ):
        outcome = await flows.act_on_open(sessions, flows.Request("C1", "U2"), incident.id, action)
        assert outcome.reply == {"text": f"INC-{incident.id} is already resolved."}
    async with sessions() as session:
        assert (len(await kinds(session)), len(await outbox(session))) == before
        pending = await session.execute(select(OutboxMessage.id))
        assert len(pending.all()) == before[1]
