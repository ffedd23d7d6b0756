"""Bookings as the platform's events describe them."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.enums import BookingStatus, string_enum
from webapp.models.recipient import Recipient
from webapp.models.types import UTCDateTime, utcnow


class Booking(db.Model):
    """A session a client booked with an expert."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id"))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id"))
    service_name: Mapped[str | None] = mapped_column(String(200))
    # Empty only for a booking first heard of through an event that carried no times.
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[BookingStatus] = mapped_column(string_enum(BookingStatus), default=BookingStatus.REQUESTED)
    # The timestamp of the newest event applied: older events never undo newer state.
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    client: Mapped[Recipient | None] = relationship(foreign_keys=[client_id])
    expert: Mapped[Recipient | None] = relationship(foreign_keys=[expert_id])

    @property
    def parties(self) -> list[Recipient]:
        """Return the client and expert that are known."""
        return [person for person in (self.client, self.expert) if person is not None]

    def __repr__(self) -> str:
        return f"<Booking {self.external_id} {self.status.value}>"
