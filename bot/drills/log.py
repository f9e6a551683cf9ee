"""The validation log in the database: record one when a drill's run ends,
read them back, and say which runbooks are *due* (SPEC §8).

Each function works inside the caller's transaction; the caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import case, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from bot.drills.validation import PASS, SkippedStep, Verdict, due_from, evaluate
from bot.drills.views import DueRunbook, ValidationRow
from bot.store.models import TimelineEvent, UTCDateTime, Validation, table_of
from bot.store.people import names_of
from bot.store.states import EventKind
from bot.store.writes import append_row


async def record_validation(
    session: AsyncSession,
    *,
    run_id: int,
    runbook_id: str,
    incident_id: int,
    environment: str,
    started_at: datetime,
    ended_at: datetime,
    completed: bool,
    decided: int,
    total: int,
    skipped: Sequence[SkippedStep],
    validators: Iterable[str],
    rto_s: float | None,
) -> Verdict:
    """Judge the drill and append its validation (and a timeline event)."""
    duration = max(0.0, (ended_at - started_at).total_seconds())
    verdict = evaluate(
        completed=completed,
        decided=decided,
        total=total,
        skipped=skipped,
        duration_s=duration,
        rto_s=rto_s,
    )
    notes = (
        await session.execute(
            select(TimelineEvent.text)
            .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == EventKind.NOTE)
            .order_by(TimelineEvent.at, TimelineEvent.id)
        )
    ).scalars()
    who = list(dict.fromkeys(validators))  # everyone who decided a step, first decision first
    session.add(
        Validation(
            runbook_id=runbook_id,
            incident_id=incident_id,
            run_id=run_id,
            at=ended_at,
            environment=environment,
            result=verdict.result,
            reason=verdict.reason,
            duration_s=round(duration, 3),
            validators=who,
            notes=[n[:2000] for n in notes],
        )
    )
    text = f"Validation of {runbook_id} in {environment}: {verdict.result}"
    if verdict.reason:
        text += f" ({verdict.reason})"
    append_row(
        session,
        table_of(TimelineEvent),
        {
            "incident_id": incident_id,
            "run_id": run_id,
            "kind": EventKind.VALIDATION_RECORDED,
            "actor": None,
            "at": ended_at,
            "text": text[:4000],
            "data": {
                "result": verdict.result,
                "reason": verdict.reason,
                "environment": environment,
            },
        },
    )
    return verdict


async def list_validations(
    session: AsyncSession, runbook_id: str | None = None, *, limit: int | None = None
) -> list[ValidationRow]:
    """Newest first; one runbook's (any case) or every runbook's."""
    query = select(Validation).order_by(Validation.at.desc(), Validation.id.desc())
    if runbook_id is not None:
        query = query.where(func.lower(Validation.runbook_id) == runbook_id.lower())
    if limit is not None:
        query = query.limit(limit)
    rows = list((await session.execute(query)).scalars())
    # One lookup for every validator of the listed rows, not one per row.
    names = await names_of(session, (u for v in rows for u in v.validators or ()))
    return [
        ValidationRow(
            runbook_id=v.runbook_id,
            incident_key=f"INC-{v.incident_id}",
            at=v.at,
            validators=tuple(v.validators or ()),
            environment=v.environment,
            result=v.result,
            reason=v.reason,
            duration_s=float(v.duration_s),
            notes=tuple(v.notes or ()),
            validator_names=tuple(names.get(u, u) for u in v.validators or ()),
        )
        for v in rows
    ]


async def last_validations(
    session: AsyncSession,
) -> dict[str, tuple[datetime | None, str | None]]:
    """Per runbook (lowercased id): (its last passing validation, its newest result).

    One query: a window numbers each runbook's validations newest first, and
    the last pass is a windowed MAX over the passing ones.
    """
    by_runbook = Validation.runbook_id
    ranked = select(
        Validation.runbook_id,
        Validation.result,
        func.row_number()
        .over(partition_by=by_runbook, order_by=(Validation.at.desc(), Validation.id.desc()))
        .label("n"),
        func.max(case((Validation.result == PASS, Validation.at)))
        .over(partition_by=by_runbook)
        .label("passed"),
    ).subquery()
    query = select(
        ranked.c.runbook_id, type_coerce(ranked.c.passed, UTCDateTime()), ranked.c.result
    ).where(ranked.c.n == 1)
    rows = (await session.execute(query)).all()
    return {runbook_id.lower(): (passed, result) for runbook_id, passed, result in rows}


async def due_runbooks(
    session: AsyncSession,
    runbooks: Iterable[tuple[str, str]],
    *,
    interval_seconds: float,
    now: datetime,
) -> list[DueRunbook]:
    last = await last_validations(session)
    return due_from(runbooks, last, interval_seconds=interval_seconds, now=now)
