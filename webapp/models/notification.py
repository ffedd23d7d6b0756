"""Notifications and the record of every attempt to deliver them."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.booking import Booking
from webapp.models.enums import (
    AttemptOutcome,
    NotificationStatus,
    NotificationType,
    string_enum,
)
from webapp.models.recipient import Recipient
from webapp.models.types import UTCDateTime, utcnow


class Notification(db.Model):
    """One message for one recipient over one channel, planned for a time."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The dashboard's list: by scheduled time (ties by id), alone, by status, and among rows with an error.
        Index("ix_notifications_scheduled_at_id", "scheduled_at", "id"),
        Index("ix_notifications_status_scheduled_at_id", "status", "scheduled_at", "id"),
        # Partial: new rows have no error, so ingest never writes to it.
        Index(
            "ix_notifications_with_error",
            "scheduled_at",
            "id",
            sqlite_where=text("last_error IS NOT NULL"),
            postgresql_where=text("last_error IS NOT NULL"),
        ),
        # What dispatch scans: pending rows whose (possibly retried) due time has come.
        Index("ix_notifications_status_due_at", "status", "due_at"),
        Index("ix_notifications_booking_id", "booking_id"),
        # The per-recipient hourly cap counts a recipient's recent sends on a channel.
        Index("ix_notifications_recipient_channel_sent_at", "recipient_id", "channel", "sent_at"),
        # A person's page: their notifications, newest first, paged by (scheduled_at, id).
        Index("ix_notifications_recipient_scheduled_at_id", "recipient_id", "scheduled_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id"))
    type: Mapped[NotificationType] = mapped_column(string_enum(NotificationType))
    channel: Mapped[str] = mapped_column(String(32))
    status: Mapped[NotificationStatus] = mapped_column(
        string_enum(NotificationStatus), default=NotificationStatus.PENDING
    )
    # When the message was planned for; due_at moves with retries, scheduled_at does not.
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The booking start a reminder refers to; a reminder for an old start is never sent.
    booking_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    # Event details the message needs beyond booking and recipient (amount, reset link).
    data: Mapped[dict | None] = mapped_column(JSON)
    # What the provider reported after accepting it: sent, delivered or undelivered (see domain/receipts.py).
    delivery_state: Mapped[str | None] = mapped_column(String(16))
    delivery_detail: Mapped[str | None] = mapped_column(Text)
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The provider's id for the message (a Twilio MessageSid), which its receipts name.
    provider_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    # A fallback names the message on another channel it stands in for.
    replaces_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", name="fk_notifications_replaces_id"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    booking: Mapped[Booking | None] = relationship()
    recipient: Mapped[Recipient] = relationship()
    attempt_log: Mapped[list["DeliveryAttempt"]] = relationship(
        back_populates="notification", order_by="DeliveryAttempt.id"
    )

    @property
    def note(self) -> str:
        """Why the row is as it is: its last error, else its quiet-hours note, else nothing."""
        return self.last_error or (self.data or {}).get("quiet_hours", "")

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.type.value}/{self.channel} {self.status.value}>"


class DeliveryAttempt(db.Model):
    """One try at handing a notification to its channel, and what came of it."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[AttemptOutcome | None] = mapped_column(string_enum(AttemptOutcome))
    error: Mapped[str | None] = mapped_column(Text)
    response_summary: Mapped[str | None] = mapped_column(String(1000))

    notification: Mapped[Notification] = relationship(back_populates="attempt_log")


class DeliveryReport(db.Model):
    """What a provider said about a message after accepting it: a receipt, a bounce, a complaint.

    One row per message, source and state, so a callback that arrives twice is recorded once.
    """

    __tablename__ = "delivery_reports"
    __table_args__ = (
        UniqueConstraint("notification_id", "source", "state", name="uq_delivery_reports_once"),
        Index("ix_delivery_reports_reason_at", "reason", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    # A bounce's reason as sisimai names it (userunknown, mailboxfull, authfailure, ...): see bounce_reasons.
    reason: Mapped[str | None] = mapped_column(String(32), index=False)


class StatusChange(db.Model):
    """A change of status made off the delivery path: by staff, the platform's events, opt-outs or the sweep.

    The delivery path (queued, processing, sent, retried, failed) is recorded by the attempts instead, so a
    burst of sends writes no extra rows.
    """

    __tablename__ = "notification_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[NotificationStatus] = mapped_column(string_enum(NotificationStatus))
    reason: Mapped[str | None] = mapped_column(Text)
