"""Every event received, kept for idempotency and for support staff."""

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.enums import EventOutcome, EventSource, string_enum
from webapp.models.types import UTCDateTime, utcnow

WAITING = text("outcome IS NULL")
REFS = ("booking_ref", "person_ref", "other_person_ref")


def waiting_with(column: str):
    """The predicate of a partial index over waiting events that name a column's value."""
    return text(f"outcome IS NULL AND {column} IS NOT NULL")


class InboundEvent(db.Model):
    """A platform event as it arrived, with what Bellhop did with it."""

    __tablename__ = "inbound_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    source: Mapped[EventSource] = mapped_column(string_enum(EventSource))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    payload: Mapped[str] = mapped_column(Text)
    # None while the event waits in the inbox for the planner.
    outcome: Mapped[EventOutcome | None] = mapped_column(string_enum(EventOutcome))
    detail: Mapped[str | None] = mapped_column(String(500))
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A replay keys its messages by the event first received, so it adds only what that one did not.
    replay_of: Mapped[str | None] = mapped_column(String(255))
    # What the event may change before it is planned: its booking, and the people whose contact details or
    # consent it carries. The send path holds a message back while such an event waits (domain/transitions.py).
    booking_ref: Mapped[str | None] = mapped_column(String(64))
    person_ref: Mapped[str | None] = mapped_column(String(64))
    other_person_ref: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_inbound_events_waiting", "id", postgresql_where=WAITING, sqlite_where=WAITING),
        # Partial: an event is in one only while it waits and names what it may change, so they stay small
        # and most accepts write none but the booking's.
        *(
            Index(
                f"ix_inbound_events_waiting_{column}",
                column,
                postgresql_where=waiting_with(column),
                sqlite_where=waiting_with(column),
            )
            for column in REFS
        ),
    )


class PlannerLock(db.Model):
    """One row that a planner updates first in each batch, so only one planner applies events at a time."""

    __tablename__ = "planner_lock"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64))
