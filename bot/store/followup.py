"""The ``followups`` table: actions agreed on after an incident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.models import Base, BigId, utcnow


class Followup(Base):
    """One follow-up: its incident, text, owner, due time, and when it was done.

    An open one with a due time has a ``followup_due`` deadline
    (``bot/incidents/followups.py``) that posts the overdue notice once.
    """

    __tablename__ = "followups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_followups_incident", "incident_id"),
        Index("ix_followups_owner", "owner"),
    )
