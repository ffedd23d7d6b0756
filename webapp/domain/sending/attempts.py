"""The rules around one delivery attempt: claim, classify the outcome, retry or settle."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.orm import joinedload

from webapp.domain.after_sending import fallbacks, suppressions
from webapp.domain.people import preferences, unsubscribe_links
from webapp.domain.planning import notification_rows
from webapp.domain.sending import states
from webapp.domain.sending.channel_contract import DeliveryError, Outgoing, permanent
from webapp.domain.sending.templates.rendering import Rendered, RenderError, render
from webapp.extensions import db
from webapp.models import AttemptOutcome, Booking, DeliveryAttempt, Notification
from webapp.models.types import utcnow
from webapp.plumbing import metrics, queueing


@dataclass
class Prepared:
    """A claimed message, rendered and ready to send, with no database transaction left open."""

    notification_id: int
    booking_id: int | None
    attempts: int
    useful_until: datetime | None
    stale_when: str = "ended"  # what the booking has done by useful_until: started or ended
    recipient_id: int | None = None
    type: str = ""
    channel: str = ""
    due_at: datetime | None = None
    scheduled_at: datetime | None = None
    rendered: Rendered | None = None
    message: Outgoing | None = None
    error: DeliveryError | None = None


def claim_batch(ids: list[int]) -> list[Prepared]:
    """Claim a batch of queued rows and render them, in one transaction; skip rows taken or unwanted."""
    now = utcnow()
    states.lock_in_order(ids)  # every statement below then finds its rows already held: none waits
    claimed = states.claim_for_delivery(ids, now)
    left = sorted(set(ids) - set(claimed))
    states.drop_unwanted(left, now)
    states.hold_queued(left, now)  # before the suppression check: the waiting event may change the address
    fallback_due = fallbacks.plan_after(suppressions.suppress_listed(left, now), now)
    released = states.release_unclaimed(left, now)  # last: whatever the steps above left queued
    rows = db.session.scalars(
        select(Notification)
        .where(Notification.id.in_(claimed))
        .order_by(Notification.id)
        .options(*EAGER)
        .execution_options(populate_existing=True)
    )
    prepared = [prepare(row) for row in rows]
    # Commit before any network call: nothing stays locked or idle in a transaction while we wait.
    db.session.commit()
    queueing.arm_wakeups(fallback_due + ([now] if released else []))
    return prepared


EAGER = (
    joinedload(Notification.recipient),
    joinedload(Notification.booking).joinedload(Booking.client),
    joinedload(Notification.booking).joinedload(Booking.expert),
)


def prepare(notification: Notification) -> Prepared:
    """Render one claimed row; a template failure becomes a permanent error for that row only."""
    item = Prepared(
        notification.id,
        notification.booking_id,
        notification.attempts,
        notification_rows.useful_until(notification),
        "started" if notification.type in notification_rows.BEFORE_START else "ended",
        notification.recipient_id,
        notification.type.value,
        notification.channel,
        notification.due_at,
        notification.scheduled_at,
    )
    try:
        item.rendered = render(notification)
        item.message = outgoing(notification, item.rendered)
    except RenderError as error:
        item.error = permanent(str(error))
    return item


def keep_wanted(window: list[Prepared]) -> list[Prepared]:
    """Re-read bookings and the inbox just before sending: cancel the rows a cancel or move has made unwanted,
    and hold back those a waiting event may change."""
    now = utcnow()
    unwanted, held = states.verdicts([item.notification_id for item in window])
    states.abandon(sorted(unwanted), now)
    states.hold(sorted(held), now)
    # Also ends the read: no snapshot or lock is held while the sends wait on the network.
    db.session.commit()
    return [item for item in window if item.notification_id not in unwanted | held]


def keep_leases(remaining: list[Prepared], claimed_at: datetime) -> datetime:
    """Extend the leases of a slow batch's remaining rows once half the lease has gone by."""
    now = utcnow()
    if remaining and now - claimed_at > states.lease() / 2:
        states.extend_lease([item.notification_id for item in remaining], now)
        db.session.commit()
        return now
    return claimed_at


@dataclass
class Outcome:
    """What one attempt to send a message came to: a provider summary, or a classified error."""

    item: Prepared
    started_at: datetime
    finished_at: datetime
    summary: str | None = None
    error: DeliveryError | None = None
    provider_ref: str | None = None


def record(outcomes: list[Outcome]) -> list[datetime]:
    """Record a window's attempts and their rows' new states in one commit; return the retry times."""
    sent = [outcome for outcome in outcomes if outcome.error is None]
    failed = [outcome for outcome in outcomes if outcome.error is not None]
    # One executemany per statement, not one round through the ORM per message.
    connection = db.session.connection()
    if outcomes:
        connection.execute(INSERT_ATTEMPT, [attempt_row(outcome) for outcome in outcomes])
    states.mark_sent([sent_row(outcome) for outcome in sent])
    settled = [settle_failure(outcome) for outcome in failed]
    given_up = [outcome for outcome, (_, status) in zip(failed, settled, strict=True) if status == "failed"]
    suppress_dead_addresses(given_up)
    now = outcomes[-1].finished_at if outcomes else utcnow()
    fallback_due = fallbacks.plan_after([outcome.item.notification_id for outcome in given_up], now)
    db.session.commit()
    count(sent, failed, [status for _, status in settled])
    return [retry_at for retry_at, _ in settled if retry_at] + fallback_due


def suppress_dead_addresses(given_up: list[Outcome]) -> None:
    """Put on the suppression list the addresses a provider called dead, and webhook URLs that keep failing."""
    for outcome in given_up:
        item, error = outcome.item, outcome.error
        address = address_of(item)
        if address is None:
            continue
        if error.dead_address or failing_webhook(item):
            suppressions.add(
                item.channel, address, str(error), f"{item.channel} delivery", outcome.finished_at, item.recipient_id
            )


def address_of(item: Prepared) -> str | None:
    """The address a prepared message went to on its channel, or None."""
    field = suppressions.ADDRESS_FIELD.get(item.channel)
    return item.message.recipient.get(field) if item.message and field else None


def failing_webhook(item: Prepared) -> bool:
    """Whether the person's webhook has failed permanently the configured number of times in a row."""
    run = current_app.config["WEBHOOK_SUPPRESS_AFTER"]
    if item.channel != "webhook" or not run:
        return False
    latest = db.session.scalars(
        select(DeliveryAttempt.outcome)
        .join(Notification, Notification.id == DeliveryAttempt.notification_id)
        .where(Notification.recipient_id == item.recipient_id, Notification.channel == "webhook")
        .order_by(DeliveryAttempt.id.desc())
        .limit(run)
    ).all()
    return len(latest) == run and all(outcome == AttemptOutcome.PERMANENT_ERROR for outcome in latest)


def count(sent: list[Outcome], failed: list[Outcome], settled_as: list[str]) -> None:
    """Count what a committed window came to, for the metrics."""
    for outcome in sent:
        item = outcome.item
        metrics.NOTIFICATIONS.labels(item.type, item.channel, "sent").inc()
        if item.due_at is not None:
            metrics.LATENESS.labels(item.channel).observe((outcome.finished_at - item.due_at).total_seconds())
        if item.scheduled_at is not None and outcome.finished_at < item.scheduled_at:
            metrics.SENT_EARLY.labels(item.channel).observe((item.scheduled_at - outcome.finished_at).total_seconds())
    for outcome, status in zip(failed, settled_as, strict=True):
        item = outcome.item
        metrics.PROVIDER_ERRORS.labels(item.channel, "transient" if outcome.error.transient else "permanent").inc()
        if status == "retry":
            metrics.RETRIES.labels(item.channel).inc()
        else:
            metrics.NOTIFICATIONS.labels(item.type, item.channel, status).inc()


def sent_row(outcome: Outcome) -> dict:
    """The values that mark one delivered row sent."""
    item = outcome.item
    return {
        "notification_id": item.notification_id,
        "now": outcome.finished_at,
        "subject": item.rendered.subject,
        "body": item.rendered.body,
        "provider_ref": outcome.provider_ref,
    }


def settle_failure(outcome: Outcome) -> tuple[datetime | None, str]:
    """Move a failed row to pending for a retry, or to failed or expired; return the retry time and which."""
    item, error, now = outcome.item, outcome.error, outcome.finished_at
    retry_at = next_try(item, error, now)
    if retry_at is None:
        states.mark_failed(item.notification_id, now, final_reason(item.attempts, error))
        return None, "failed"
    if item.useful_until and retry_at > item.useful_until:
        reason = f"expired: the next try would come after the booking {item.stale_when}; last error: {error}"
        states.mark_expired(item.notification_id, now, reason)
        return None, "expired"
    states.mark_retry(item.notification_id, now, str(error), retry_at)
    return retry_at, "retry"


def attempt_row(outcome: Outcome) -> dict:
    """One attempt's row: its outcome, error and the provider's answer."""
    error = outcome.error
    if error is None:
        kind, summary = AttemptOutcome.SENT, outcome.summary
    else:
        kind = AttemptOutcome.TRANSIENT_ERROR if error.transient else AttemptOutcome.PERMANENT_ERROR
        summary = error.summary
    return {
        "notification_id": outcome.item.notification_id,
        "number": outcome.item.attempts,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "outcome": kind,
        "error": None if error is None else str(error),
        "response_summary": (summary or "")[:1000] or None,
    }


INSERT_ATTEMPT = insert(DeliveryAttempt.__table__)


def next_try(item: Prepared, error: DeliveryError, now: datetime) -> datetime | None:
    """Return the retry time, or None when the error is permanent or attempts ran out."""
    if not error.transient or item.attempts >= current_app.config["MAX_ATTEMPTS"]:
        return None
    return now + timedelta(seconds=backoff(item.attempts, error.retry_after))


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
    contact = {
        name: getattr(recipient, name)
        for name in ("external_id", "name", "email", "phone", "telegram_chat_id", "webhook_url", "timezone")
    }
    # Stable across attempts, so a receiver can drop the copy a crash may cause.
    key = f"bellhop-notification-{notification.id}"
    unsubscribe_url = None
    if notification.channel == "email":  # every email carries a way out; other channels have their own
        unsubscribe_url = unsubscribe_links.link(recipient.id, "email", preferences.category_of(notification.type))
    return Outgoing(
        notification.id,
        key,
        notification.type.value,
        notification.channel,
        rendered.subject,
        rendered.body,
        contact,
        payload,
        unsubscribe_url,
    )


def booking_summary(booking) -> dict:
    """Return the booking fields a receiver needs."""
    return {
        "booking_id": booking.external_id,
        "service_name": booking.service_name,
        "starts_at": booking.starts_at.isoformat() if booking.starts_at else None,
        "ends_at": booking.ends_at.isoformat() if booking.ends_at else None,
        "status": booking.status.value,
    }
