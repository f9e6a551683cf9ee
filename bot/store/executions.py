"""The ``executions`` table: one row per run of an action, committed before it starts.

At most once: a step's execution is unique on (run, step, attempt), so two Run
clicks insert one row; a new attempt (Run again after a failure or an
execution in doubt) is the next ``attempt``. ``owner`` is the lease owner of
the process running it (``bot/slack/owner.py``): a row still ``running`` whose
owner is gone was cut short, and is marked ``in_doubt``, never rerun by itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store import states
from bot.store.models import Base, BigId, utcnow

__all__ = ["Execution"]


class Execution(Base):
    __tablename__ = "executions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))  # None: escalation
    step_index: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    action_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[states.ExecutionState] = mapped_column(String(16))
    started_by: Mapped[str | None] = mapped_column(String(64))  # None: the bot itself
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    owner: Mapped[int | None] = mapped_column(BigInteger)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (
        UniqueConstraint("run_id", "step_index", "attempt", name="uq_execution_step_attempt"),
        # The restarted bot's look for executions cut short.
        Index("ix_executions_state", "state"),
    )
