"""The rules around one delivery attempt: claim, classify the outcome, retry or settle."""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import update

from webapp.domain import transitions
from webapp.domain.rendering import Rendered, RenderError, render
from webapp.extensions import db
from webapp.models import AttemptOutcome, DeliveryAttempt, Notification
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
class Started:
    """A claimed message, rendered and ready to send, with no database transaction left open."""

    notification_id: int
    attempt_id: int
    attempts: int
    useful_until: datetime | None
    rendered: Rendered | None = None
    message: Outgoing | None = None
    error: DeliveryError | None = None


def begin(notification_id: int) -> Started | None:
    """Claim a queued row, open an attempt and render it; None if it is taken, cancelled or moved."""
    now = utcnow()
    if not transitions.claim_for_delivery(notification_id, now):
        transitions.drop_unwanted(notification_id, now)
        db.session.commit()
        return None
    notification = db.session.get(Notification, notification_id, populate_existing=True)
    attempt = DeliveryAttempt(notification=notification, number=notification.attempts, started_at=now)
    db.session.add(attempt)
    db.session.flush()
    booking = notification.booking
    started = Started(notification_id, attempt.id, notification.attempts, booking.ends_at if booking else None)
    try:
        started.rendered = render(notification)
        started.message = outgoing(notification, started.rendered)
    except RenderError as error:
        started.error = permanent(str(error))
    # Commit before the network call: nothing stays locked or idle in a transaction while we wait.
    db.session.commit()
    return started


def succeed(started: Started, summary: str) -> None:
    """Record a delivered message and its attempt."""
    now = utcnow()
    close(started.attempt_id, now, AttemptOutcome.SENT, None, summary)
    transitions.mark_sent(started.notification_id, now, started.rendered.subject, started.rendered.body)
    db.session.commit()


def fail(started: Started, error: DeliveryError) -> datetime | None:
    """Record a failed attempt; return when to try again, or None when it is final."""
    now = utcnow()
    outcome = AttemptOutcome.TRANSIENT_ERROR if error.transient else AttemptOutcome.PERMANENT_ERROR
    close(started.attempt_id, now, outcome, str(error), error.summary)
    retry_at = next_try(started, error, now)
    if retry_at is None:
        transitions.mark_failed(started.notification_id, now, final_reason(started.attempts, error))
    else:
        transitions.mark_retry(started.notification_id, now, str(error), retry_at)
    db.session.commit()
    return retry_at


def close(attempt_id: int, now: datetime, outcome: AttemptOutcome, error: str | None, summary: str | None):
    """Fill in how an attempt ended."""
    db.session.execute(update(DeliveryAttempt).where(DeliveryAttempt.id == attempt_id).values(
        finished_at=now, outcome=outcome, error=error, response_summary=(summary or "")[:1000] or None))


def next_try(started: Started, error: DeliveryError, now: datetime) -> datetime | None:
    """Return the retry time, or None when the error is permanent, attempts ran out, or it is too late."""
    if not error.transient or started.attempts >= current_app.config["MAX_ATTEMPTS"]:
        return None
    retry_at = now + timedelta(seconds=backoff(started.attempts, error.retry_after))
    # A booking message is useless once its booking has ended.
    return None if started.useful_until and retry_at > started.useful_until else retry_at


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
