"""Every notification state change, each a compare-and-set on the current status.

Workers, the sweep, cancels and retries race one another; an UPDATE that names the
statuses it may leave is the only way a row changes, so no two of them can both win.
"""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, or_, select, update

from webapp.extensions import db
from webapp.models import Booking, BookingStatus, Notification, NotificationStatus, NotificationType

S = NotificationStatus
OPEN = (S.PENDING, S.QUEUED)


def change(ids, from_statuses, **values) -> list[int]:
    """Move the rows among ids that are still in from_statuses; return those moved."""
    if not ids:
        return []
    statement = (
        update(Notification)
        .where(Notification.id.in_(list(ids)), Notification.status.in_(from_statuses))
        .values(**values)
        .returning(Notification.id)
    )
    return list(db.session.scalars(statement))


def cancel_open_for_booking(booking_id: int, reason: str, now: datetime) -> int:
    """Cancel every pending or queued message of a booking."""
    statement = (
        update(Notification)
        .where(Notification.booking_id == booking_id, Notification.status.in_(OPEN))
        .values(status=S.CANCELLED, last_error=reason, updated_at=now)
    )
    return db.session.execute(statement).rowcount


def claim_due(now: datetime, limit: int) -> list[tuple[int, str]]:
    """Move up to limit due pending rows to queued; return (id, channel) of those claimed."""
    due = (
        select(Notification.id)
        .where(Notification.status == S.PENDING, Notification.due_at <= now)
        .order_by(Notification.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL: two dispatchers take disjoint rows
    )
    statement = (
        update(Notification)
        .where(Notification.id.in_(due.scalar_subquery()), Notification.status == S.PENDING)
        .values(status=S.QUEUED, lease_expires_at=now + lease(), updated_at=now)
        .returning(Notification.id, Notification.channel)
    )
    return [tuple(row) for row in db.session.execute(statement)]


def still_wanted():
    """SQL condition: the booking is not cancelled and a reminder still fits its start."""
    booking_ok = exists().where(
        Booking.id == Notification.booking_id,
        or_(Booking.status != BookingStatus.CANCELLED, Notification.type == NotificationType.BOOKING_CANCEL),
        or_(Notification.booking_starts_at.is_(None), Booking.starts_at == Notification.booking_starts_at),
    )
    return or_(Notification.booking_id.is_(None), booking_ok)


def claim_for_delivery(notification_id: int, now: datetime) -> bool:
    """Take a queued row for sending, only if its booking still wants it."""
    statement = (
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == S.QUEUED, still_wanted())
        .values(
            status=S.PROCESSING,
            attempts=Notification.attempts + 1,
            lease_expires_at=now + lease(),
            updated_at=now,
        )
    )
    return db.session.execute(statement).rowcount == 1


def mark_sent(notification_id: int, now: datetime, subject: str, body: str) -> bool:
    """Record a delivered message."""
    return bool(change([notification_id], [S.PROCESSING], status=S.SENT, sent_at=now, subject=subject,
                       body=body, last_error=None, lease_expires_at=None, updated_at=now))


def mark_failed(notification_id: int, now: datetime, error: str) -> bool:
    """Record a message that will not be tried again."""
    return bool(change([notification_id], [S.PROCESSING], status=S.FAILED, last_error=error,
                       lease_expires_at=None, updated_at=now))


def mark_retry(notification_id: int, now: datetime, error: str, due: datetime) -> bool:
    """Put a message back to pending for another attempt at due."""
    return bool(change([notification_id], [S.PROCESSING], status=S.PENDING, last_error=error, due_at=due,
                       lease_expires_at=None, updated_at=now))


def release_expired(now: datetime, max_attempts: int) -> tuple[int, int]:
    """Return rows whose lease ran out to pending, or fail those out of attempts."""
    expired = and_(Notification.status.in_((S.QUEUED, S.PROCESSING)), Notification.lease_expires_at < now)
    exhausted = db.session.execute(
        update(Notification)
        .where(expired, Notification.status == S.PROCESSING, Notification.attempts >= max_attempts)
        .values(status=S.FAILED, last_error="lease expired with no attempts left", lease_expires_at=None)
    ).rowcount
    returned = db.session.execute(
        update(Notification)
        .where(expired)
        .values(status=S.PENDING, due_at=now, lease_expires_at=None, updated_at=now)
    ).rowcount
    return returned, exhausted


def lease() -> timedelta:
    """How long a claimed row may stay queued or processing before the sweep takes it back."""
    return timedelta(seconds=current_app.config["LEASE_SECONDS"])


def drop_unwanted(notification_id: int, now: datetime) -> bool:
    """Cancel a queued row whose booking was cancelled or moved since it was planned."""
    statement = (
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == S.QUEUED, ~still_wanted())
        .values(status=S.CANCELLED, last_error="booking cancelled or rescheduled before sending", updated_at=now)
    )
    return db.session.execute(statement).rowcount == 1
