"""Every event received, kept for idempotency and for support staff."""

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.enums import EventOutcome, EventSource, string_enum
from webapp.models.types import UTCDateTime, utcnow


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
    outcome: Mapped[EventOutcome] = mapped_column(string_enum(EventOutcome))
    detail: Mapped[str | None] = mapped_column(String(500))
