"""Creating notification rows: one per recipient and channel, deduplicated by key."""

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import (
    Booking,
    Notification,
    NotificationStatus,
    NotificationType,
    Recipient,
)

# The recipient field each channel needs; channels not listed need none.
CONTACT_FOR_CHANNEL = {
    "webhook": "webhook_url",
    "email": "email",
    "sms": "phone",
    "telegram": "telegram_chat_id",
}
NO_CHANNEL = "none"


@dataclass
class Plan:
    """What one event planned: the due times that need a wake-up."""

    now: datetime
    event_id: str
    due_times: list[datetime] = field(default_factory=list)


def channels_for(recipient: Recipient) -> list[str]:
    """Return the channels a recipient gets under the current configuration."""
    channels = list(current_app.config["CHANNELS"])
    if current_app.config["WEBHOOK_CHANNEL_ENABLED"] and recipient.webhook_url:
        channels.append("webhook")
    return list(dict.fromkeys(channels)) or [NO_CHANNEL]


def missing_contact(recipient: Recipient, channel: str) -> str | None:
    """Explain why a recipient cannot be reached on a channel, or return None."""
    if channel == NO_CHANNEL:
        return f"recipient {recipient.external_id} has no usable contact: no channel applies"
    needed = CONTACT_FOR_CHANNEL.get(channel)
    if needed and not getattr(recipient, needed):
        return f"recipient {recipient.external_id} has no {needed.replace('_', ' ')} for {channel}"
    return None


def booking_key(booking: Booking, kind: NotificationType, recipient: Recipient, channel: str) -> str:
    """Key one booking message: the same booking, start, type, person and channel only once."""
    start = booking.starts_at.isoformat() if booking.starts_at else "none"
    return f"booking:{booking.external_id}:{kind.value}:{recipient.external_id}:{channel}:{start}"


def event_key(event_id: str, kind: NotificationType, recipient: Recipient, channel: str) -> str:
    """Key a message that belongs to a single event (payments, account messages)."""
    return f"event:{event_id}:{kind.value}:{recipient.external_id}:{channel}"


def existing_keys(keys: list[str]) -> set[str]:
    """Return which of these dedupe keys already have a row."""
    if not keys:
        return set()
    return set(db.session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys))))


def add(plan: Plan, recipient: Recipient, kind: NotificationType, due: datetime,
        booking: Booking | None = None, data: dict | None = None) -> list[Notification]:
    """Plan a message on each of the recipient's channels, skipping ones already planned."""
    rows = []
    for channel in channels_for(recipient):
        if booking:
            key = booking_key(booking, kind, recipient, channel)
        else:
            key = event_key(plan.event_id, kind, recipient, channel)
        rows.append(build(recipient, kind, channel, due, key, booking, data))
    taken = existing_keys([row.dedupe_key for row in rows])
    fresh = [row for row in rows if row.dedupe_key not in taken]
    db.session.add_all(fresh)
    plan.due_times.extend(row.due_at for row in fresh if row.status == NotificationStatus.PENDING)
    return fresh


def build(recipient, kind, channel, due, key, booking, data) -> Notification:
    """Make one row; an unreachable recipient's row is failed at once with the reason."""
    problem = missing_contact(recipient, channel)
    return Notification(
        recipient=recipient,
        booking=booking,
        booking_starts_at=booking.starts_at if booking else None,
        type=kind,
        channel=channel,
        status=NotificationStatus.FAILED if problem else NotificationStatus.PENDING,
        last_error=problem,
        scheduled_at=due,
        due_at=due,
        attempts=0,
        dedupe_key=key,
        data=data,
    )
