"""The rules around one delivery attempt: claim, classify the outcome, retry or settle."""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.orm import joinedload

from webapp.domain import transitions
from webapp.domain.rendering import Rendered, RenderError, render
from webapp.extensions import db
from webapp.models import AttemptOutcome, Booking, DeliveryAttempt, Notification
from webapp.models.types import utcnow


class DeliveryError(Exception):
    """A channel could not deliver; transient errors are retried, permanent ones are not."""

    def __init__(self, message: str, transient: bool, retry_after: float | None = None, summary: str | None = None):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        self.summary = summary


def transient(message: str, retry_after: float | None = None, summary: str | None = None) -> DeliveryError:
    """Build an error worth retrying: timeouts, 429, 5xx."""
    return DeliveryError(message, True, retry_after, summary)


def permanent(message: str, summary: str | None = None) -> DeliveryError:
    """Build an error no retry can fix: other 4xx, a missing address."""
    return DeliveryError(message, False, None, summary)


@dataclass
class Outgoing:
    """What a channel needs to send one message."""

    notification_id: int
    idempotency_key: str
    type: str
    channel: str
    subject: str
    body: str
    recipient: dict
    payload: dict = field(default_factory=dict)


@dataclass
class Prepared:
    """A claimed message, rendered and ready to send, with no database transaction left open."""

    notification_id: int
    booking_id: int | None
    attempts: int
    useful_until: datetime | None
    rendered: Rendered | None = None
    message: Outgoing | None = None
    error: DeliveryError | None = None


def claim_batch(ids: list[int]) -> list[Prepared]:
    """Claim a batch of queued rows and render them, in one transaction; skip rows taken or unwanted."""
    now = utcnow()
    claimed = transitions.claim_for_delivery(ids, now)
    transitions.drop_unwanted(sorted(set(ids) - set(claimed)), now)
    rows = db.session.scalars(select(Notification).where(Notification.id.in_(claimed)).order_by(Notification.id)
                              .options(*EAGER).execution_options(populate_existing=True))
    prepared = [prepare(row) for row in rows]
    # Commit before any network call: nothing stays locked or idle in a transaction while we wait.
    db.session.commit()
    return prepared


EAGER = (
    joinedload(Notification.recipient),
    joinedload(Notification.booking).joinedload(Booking.client),
    joinedload(Notification.booking).joinedload(Booking.expert),
)


def prepare(notification: Notification) -> Prepared:
    """Render one claimed row; a template failure becomes a permanent error for that row only."""
    booking = notification.booking
    item = Prepared(notification.id, notification.booking_id, notification.attempts,
                    booking.ends_at if booking else None)
    try:
        item.rendered = render(notification)
        item.message = outgoing(notification, item.rendered)
    except RenderError as error:
        item.error = permanent(str(error))
    return item


def still_wanted(item: Prepared) -> bool:
    """Re-read the booking just before sending: a cancel or move since the claim stops the send."""
    if item.booking_id is None:
        return True  # nothing can cancel a message that belongs to no booking
    return transitions.is_still_wanted(item.notification_id)


def abandon(item: Prepared) -> None:
    """Record that a claimed row will not be sent because its booking no longer wants it."""
    transitions.abandon(item.notification_id, utcnow())
    db.session.commit()


def keep_leases(remaining: list[Prepared], claimed_at: datetime) -> datetime:
    """Extend the leases of a slow batch's remaining rows once half the lease has gone by."""
    now = utcnow()
    if remaining and now - claimed_at > transitions.lease() / 2:
        transitions.extend_lease([item.notification_id for item in remaining], now)
        db.session.commit()
        return now
    return claimed_at


def succeed(item: Prepared, started_at: datetime, summary: str) -> None:
    """Record a delivered message and its attempt in one commit."""
    now = utcnow()
    record_attempt(item, started_at, now, AttemptOutcome.SENT, None, summary)
    transitions.mark_sent(item.notification_id, now, item.rendered.subject, item.rendered.body)
    db.session.commit()


def fail(item: Prepared, started_at: datetime, error: DeliveryError) -> datetime | None:
    """Record a failed attempt; return when to try again, or None when it is final."""
    now = utcnow()
    outcome = AttemptOutcome.TRANSIENT_ERROR if error.transient else AttemptOutcome.PERMANENT_ERROR
    record_attempt(item, started_at, now, outcome, str(error), error.summary)
    retry_at = next_try(item, error, now)
    if retry_at is None:
        transitions.mark_failed(item.notification_id, now, final_reason(item.attempts, error))
    else:
        transitions.mark_retry(item.notification_id, now, str(error), retry_at)
    db.session.commit()
    return retry_at


def record_attempt(item: Prepared, started_at: datetime, finished_at: datetime, outcome: AttemptOutcome,
                   error: str | None, summary: str | None) -> None:
    """Write one attempt row."""
    db.session.connection().execute(INSERT_ATTEMPT, {
        "notification_id": item.notification_id, "number": item.attempts, "started_at": started_at,
        "finished_at": finished_at, "outcome": outcome, "error": error,
        "response_summary": (summary or "")[:1000] or None})


INSERT_ATTEMPT = insert(DeliveryAttempt.__table__)


def next_try(item: Prepared, error: DeliveryError, now: datetime) -> datetime | None:
    """Return the retry time, or None when the error is permanent, attempts ran out, or it is too late."""
    if not error.transient or item.attempts >= current_app.config["MAX_ATTEMPTS"]:
        return None
    retry_at = now + timedelta(seconds=backoff(item.attempts, error.retry_after))
    # A booking message is useless once its booking has ended.
    return None if item.useful_until and retry_at > item.useful_until else retry_at


def backoff(attempts: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter, never sooner than the provider's Retry-After."""
    config = current_app.config
    ceiling = min(config["RETRY_MAX_SECONDS"], config["RETRY_BASE_SECONDS"] * 2 ** (attempts - 1))
    # "Equal jitter": keeps at least half the delay so a storm of retries stays spread out.
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    return max(delay, retry_after or 0)


def final_reason(attempts: int, error: DeliveryError) -> str:
    """Explain why no further attempt will be made."""
    if not error.transient:
        return f"permanent: {error}"
    return f"gave up after {attempts} attempts: {error}"


def outgoing(notification: Notification, rendered: Rendered) -> Outgoing:
    """Build the channel's view of a notification."""
    recipient, booking = notification.recipient, notification.booking
    payload = {
        "notification_id": notification.id,
        "type": notification.type.value,
        "scheduled_at": notification.scheduled_at.isoformat(),
        "subject": rendered.subject,
        "body": rendered.body,
        "recipient_id": recipient.external_id,
        "booking": booking_summary(booking) if booking else None,
        "data": notification.data or {},
    }
    contact = {name: getattr(recipient, name) for name in ("external_id", "name", "email", "phone",
                                                            "telegram_chat_id", "webhook_url", "timezone")}
    # Stable across attempts, so a receiver can drop the copy a crash may cause.
    key = f"bellhop-notification-{notification.id}"
    return Outgoing(notification.id, key, notification.type.value, notification.channel, rendered.subject,
                    rendered.body, contact, payload)


def booking_summary(booking) -> dict:
    """Return the booking fields a receiver needs."""
    return {
        "booking_id": booking.external_id,
        "service_name": booking.service_name,
        "starts_at": booking.starts_at.isoformat() if booking.starts_at else None,
        "ends_at": booking.ends_at.isoformat() if booking.ends_at else None,
        "status": booking.status.value,
    }
