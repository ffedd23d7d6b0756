"""Every notification state change, each a compare-and-set on the current status.

Workers, the sweep, cancels and retries race one another; an UPDATE that names the
statuses it may leave is the only way a row changes, so no two of them can both win.
"""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, bindparam, exists, insert, literal, or_, select, update

from webapp.domain.after_sending.suppressions import is_suppressed
from webapp.domain.sending.history import record
from webapp.extensions import db
from webapp.models import (
    AttemptOutcome,
    Booking,
    BookingStatus,
    DeliveryAttempt,
    InboundEvent,
    Notification,
    NotificationStatus,
    NotificationType,
    Recipient,
)
from webapp.models.types import UTCDateTime

S = NotificationStatus
OPEN = (S.PENDING, S.QUEUED)
LOST = "worker lost mid-send: lease expired"
UNWANTED = "booking cancelled or rescheduled before sending"
HELD = "held: an event for its booking or person waits to be planned; it goes once that is decided"
OUT_OF_ATTEMPTS = "lease expired with no attempts left"

# Ids per UPDATE: well under every database's bound-parameter limit, and one statement for a delivery batch.
ID_CHUNK = 1_000


def change(ids, from_statuses, **values) -> list[int]:
    """Move the rows among ids that are still in from_statuses; return those moved."""
    ids = sorted(ids)
    # The Core table, not the ORM entity: this runs per message, and the ORM's bulk path costs more.
    table = Notification.__table__
    moved = []
    for start in range(0, len(ids), ID_CHUNK):
        chosen = in_id_order(table.c.id.in_(ids[start : start + ID_CHUNK]), table.c.status.in_(from_statuses))
        statement = update(table).where(table.c.id.in_(chosen)).values(**values).returning(table.c.id)
        moved += db.session.scalars(statement)
    return moved


def in_id_order(*conditions):
    """The ids of the messages matching conditions, locked in id order (on PostgreSQL) for an UPDATE to use.

    Every transaction that changes several messages locks them in id order, so none can hold one that
    another waits for while it waits itself on one that other holds: no deadlock.
    """
    table = Notification.__table__
    return select(table.c.id).where(*conditions).order_by(table.c.id).with_for_update(key_share=True)


def lock_where(*conditions) -> None:
    """Lock the messages matching conditions in id order, before the transaction changes any (see in_id_order).

    Only PostgreSQL locks rows; SQLite has one writer at a time.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(in_id_order(*conditions))


def lock_in_order(ids: list[int]) -> None:
    """Lock these messages in id order."""
    if ids:
        lock_where(Notification.__table__.c.id.in_(ids))


def lock_open(booking_ids: list[int], recipient_ids: list[int]) -> None:
    """Lock, in id order, the pending and queued messages of these bookings and recipients."""
    if booking_ids or recipient_ids:
        table = Notification.__table__
        mine = or_(table.c.booking_id.in_(booking_ids), table.c.recipient_id.in_(recipient_ids))
        lock_where(mine, table.c.status.in_(OPEN))


def cancel_open_for_booking(booking_id: int, reason: str, now: datetime) -> int:
    """Cancel every pending or queued message of a booking."""
    statement = (
        update(Notification)
        .where(Notification.booking_id == booking_id, Notification.status.in_(OPEN))
        .values(status=S.CANCELLED, last_error=reason, updated_at=now)
        .returning(Notification.id)
    )
    return len(recorded(db.session.scalars(statement), S.CANCELLED, reason, now))


def recorded(ids, status: NotificationStatus, reason: str | None, now: datetime) -> list[int]:
    """Write the history of rows moved off the delivery path; return their ids."""
    ids = list(ids)
    record(ids, status, reason, now)
    return ids


def claim_due(now: datetime, limit: int) -> list[tuple[int, str]]:
    """Move up to limit due pending rows to queued; return (id, channel) of those claimed."""
    due = (
        select(Notification.id)
        .where(Notification.status == S.PENDING, Notification.due_at <= now, ~awaits_planning())
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


def awaits_planning():
    """SQL condition: an accepted event the planner has not applied yet may change this message.

    One of its booking's events (a cancel or a move), or one carrying its recipient's details or consent. The
    promise holds from the 202: such a message waits for the planner's decision, it is not sent on the old one.
    """
    waiting = InboundEvent.outcome.is_(None)
    # Each names its partial index's predicate in full, so both databases use it.
    booking_event = exists().where(
        waiting,
        InboundEvent.booking_ref.is_not(None),
        InboundEvent.booking_ref == Booking.external_id,
        Booking.id == Notification.booking_id,
    )
    person_events = [
        exists().where(
            waiting, column.is_not(None), column == Recipient.external_id, Recipient.id == Notification.recipient_id
        )
        for column in (InboundEvent.person_ref, InboundEvent.other_person_ref)
    ]
    return or_(booking_event, *person_events)


def claim_for_delivery(ids: list[int], now: datetime) -> list[int]:
    """Take queued rows for sending: those whose booking still wants them, to an address not suppressed,
    and that no waiting event may change."""
    statement = (
        update(Notification)
        .where(
            Notification.id.in_(ids),
            Notification.status == S.QUEUED,
            still_wanted(),
            ~awaits_planning(),
            ~is_suppressed(),
        )
        .values(status=S.PROCESSING, attempts=Notification.attempts + 1, lease_expires_at=now + lease(), updated_at=now)
        .returning(Notification.id)
    )
    return list(db.session.scalars(statement))


VERDICTS = select(Notification.id, still_wanted(), awaits_planning()).where(
    Notification.id.in_(bindparam("ids", expanding=True))
)


def verdicts(ids: list[int]) -> tuple[set[int], set[int]]:
    """Re-check, just before a send, the claim's own conditions; return the rows unwanted and those to hold.

    Unwanted: the booking was cancelled or moved. Held: an event that may do so waits to be planned.
    """
    if not ids:
        return set(), set()
    rows = db.session.connection().execute(VERDICTS, {"ids": ids}).all()
    unwanted = {notification_id for notification_id, wanted, _ in rows if not wanted}
    return unwanted, {notification_id for notification_id, wanted, held in rows if wanted and held}


RETRYABLE = (S.FAILED, S.CANCELLED, S.EXPIRED)


def retry_now(ids: list[int], now: datetime, reason: str) -> list[int]:
    """Staff retry: failed, cancelled or expired rows become pending, due now. Return those moved."""
    moved = change(
        ids, RETRYABLE, status=S.PENDING, due_at=now, last_error=reason, lease_expires_at=None, updated_at=now
    )
    return recorded(moved, S.PENDING, reason, now)


FINISHED = (S.SENT, S.FAILED, S.CANCELLED, S.EXPIRED)


def resend_now(ids: list[int], now: datetime, reason: str) -> list[int]:
    """Staff resend: finished rows (sent ones too) become pending, due now. Rows on their way are left alone."""
    moved = change(
        ids, FINISHED, status=S.PENDING, due_at=now, last_error=reason, lease_expires_at=None, updated_at=now
    )
    return recorded(moved, S.PENDING, reason, now)


def cancel_now(ids: list[int], now: datetime, reason: str) -> list[int]:
    """Staff cancel: rows not yet being sent become cancelled. Return those moved."""
    moved = change(ids, OPEN, status=S.CANCELLED, last_error=reason, lease_expires_at=None, updated_at=now)
    return recorded(moved, S.CANCELLED, reason, now)


def abandon(ids: list[int], now: datetime) -> list[int]:
    """Cancel claimed rows whose booking was cancelled or moved before they could be sent."""
    moved = change(ids, [S.PROCESSING], status=S.CANCELLED, lease_expires_at=None, last_error=UNWANTED, updated_at=now)
    return recorded(moved, S.CANCELLED, UNWANTED, now)


def hold(ids: list[int], now: datetime) -> list[int]:
    """Put claimed rows back to pending, due as they were and the attempt uncounted, until the planner decides."""
    return change(
        ids,
        [S.PROCESSING],
        status=S.PENDING,
        last_error=HELD,
        attempts=Notification.attempts - 1,
        lease_expires_at=None,
        updated_at=now,
    )


def hold_queued(ids: list[int], now: datetime) -> list[int]:
    """Put queued rows that a waiting event may change back to pending, due as they were."""
    if not ids:
        return []
    statement = (
        update(Notification)
        .where(Notification.id.in_(ids), Notification.status == S.QUEUED, awaits_planning())
        .values(status=S.PENDING, last_error=HELD, lease_expires_at=None, updated_at=now)
        .returning(Notification.id)
    )
    return list(db.session.scalars(statement))


def release_unclaimed(ids: list[int], now: datetime) -> list[int]:
    """Put back to pending the queued rows a claim skipped that no later step took; return them.

    The claim and the hold each read whether an event waits. On PostgreSQL the planner can commit between the
    two statements, so a row skipped as held can find nothing waiting by the hold: without this it would stay
    queued, its job done, until its lease ran out.
    """
    if not ids:
        return []
    statement = (
        update(Notification)
        .where(Notification.id.in_(ids), Notification.status == S.QUEUED)
        .values(status=S.PENDING, lease_expires_at=None, updated_at=now)
        .returning(Notification.id)
    )
    return list(db.session.scalars(statement))


def extend_lease(ids: list[int], now: datetime) -> None:
    """Keep the rows a slow batch still holds from being taken back by the sweep."""
    db.session.execute(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.status == S.PROCESSING)
        .values(lease_expires_at=now + lease())
    )


# Built once: marking a row sent runs for every message, so skip rebuilding the statement each time.
MARK_SENT = (
    update(Notification.__table__)
    .where(Notification.__table__.c.id == bindparam("notification_id"), Notification.__table__.c.status == S.PROCESSING)
    .values(
        status=S.SENT,
        sent_at=bindparam("now"),
        subject=bindparam("subject"),
        body=bindparam("body"),
        provider_ref=bindparam("provider_ref"),
        last_error=None,
        lease_expires_at=None,
        updated_at=bindparam("now"),
    )
)


def mark_sent(rows: list[dict]) -> None:
    """Record delivered messages: each row names notification_id, now, subject and body."""
    if rows:
        db.session.connection().execute(MARK_SENT, rows)


def mark_failed(notification_id: int, now: datetime, error: str) -> bool:
    """Record a message that will not be tried again."""
    return bool(
        change(
            [notification_id], [S.PROCESSING], status=S.FAILED, last_error=error, lease_expires_at=None, updated_at=now
        )
    )


def defer(notification_id: int, due: datetime, reason: str, now: datetime) -> bool:
    """Put a claimed row back to pending for later without counting the attempt: a throttle held it back."""
    moved = change(
        [notification_id],
        [S.PROCESSING],
        status=S.PENDING,
        due_at=due,
        last_error=reason,
        attempts=Notification.attempts - 1,
        lease_expires_at=None,
        updated_at=now,
    )
    return bool(recorded(moved, S.PENDING, reason, now))


def mark_expired(notification_id: int, now: datetime, reason: str) -> bool:
    """Record a message whose moment passed before it could be delivered."""
    moved = change(
        [notification_id], [S.PROCESSING], status=S.EXPIRED, last_error=reason, lease_expires_at=None, updated_at=now
    )
    return bool(recorded(moved, S.EXPIRED, reason, now))


def mark_retry(notification_id: int, now: datetime, error: str, due: datetime) -> bool:
    """Put a message back to pending for another attempt at due."""
    return bool(
        change(
            [notification_id],
            [S.PROCESSING],
            status=S.PENDING,
            last_error=error,
            due_at=due,
            lease_expires_at=None,
            updated_at=now,
        )
    )


def release_expired(now: datetime, max_attempts: int, queue_head_since: datetime | None) -> tuple[int, int]:
    """Return rows whose lease ran out to pending, or fail those out of attempts; record the lost attempts.

    A queued row claimed at or after queue_head_since still has its job waiting in the queue: under a backlog
    longer than the lease, taking it back would only queue a second job for it, and the longer queue would
    make the next sweep take back more. It is left until its job runs or the queue's head moves past it.
    """
    expired = and_(Notification.status.in_((S.QUEUED, S.PROCESSING)), Notification.lease_expires_at < now)
    if queue_head_since is not None:
        waiting_in_queue = and_(Notification.status == S.QUEUED, Notification.updated_at >= queue_head_since)
        expired = and_(expired, ~waiting_in_queue)
    lock_where(expired)
    record_lost_attempts(and_(expired, Notification.status == S.PROCESSING), now)
    exhausted = db.session.scalars(
        update(Notification)
        .where(expired, Notification.status == S.PROCESSING, Notification.attempts >= max_attempts)
        .values(status=S.FAILED, last_error=OUT_OF_ATTEMPTS, lease_expires_at=None, updated_at=now)
        .returning(Notification.id)
    )
    exhausted = recorded(exhausted, S.FAILED, OUT_OF_ATTEMPTS, now)
    returned = db.session.scalars(
        update(Notification)
        .where(expired)
        .values(status=S.PENDING, due_at=now, lease_expires_at=None, updated_at=now)
        .returning(Notification.id)
    )
    returned = recorded(returned, S.PENDING, "lease expired: taken back by the sweep", now)
    return len(returned), len(exhausted)


JOBS_LOST = "Redis lost its delivery job: taken back"


def release_queued(now: datetime, lost_by: datetime) -> list[int]:
    """Return queued rows already due and queued before lost_by to pending: Redis lost the jobs that would send them.

    A worker still holding one of those jobs finds the row no longer queued, and its claim does nothing.
    """
    statement = (
        update(Notification)
        # Only rows already due: dispatch queues nothing earlier, so a queued row due later has a job of
        # some other making (the naive benchmark's rq-scheduler jobs) and is left alone.
        # Queued before the loss was seen: a row queued since has a live job from a dispatch after it.
        .where(Notification.status == S.QUEUED, Notification.due_at <= now, Notification.updated_at < lost_by)
        .values(status=S.PENDING, due_at=now, lease_expires_at=None, updated_at=now)
        .returning(Notification.id)
    )
    return recorded(db.session.scalars(statement), S.PENDING, JOBS_LOST, now)


def record_lost_attempts(condition, now: datetime) -> None:
    """A worker died mid-send: write the attempt it never finished, so every attempt is on record."""
    stamp = literal(now, UTCDateTime())
    lost = select(
        Notification.id,
        Notification.attempts,
        stamp,
        stamp,
        literal(AttemptOutcome.TRANSIENT_ERROR.value),
        literal(LOST),
    ).where(condition)
    db.session.execute(
        insert(DeliveryAttempt).from_select(
            ["notification_id", "number", "started_at", "finished_at", "outcome", "error"], lost
        )
    )


def lease() -> timedelta:
    """How long a claimed row may stay queued or processing before the sweep takes it back."""
    return timedelta(seconds=current_app.config["LEASE_SECONDS"])


def drop_unwanted(ids: list[int], now: datetime) -> int:
    """Cancel queued rows whose booking was cancelled or moved since they were planned."""
    if not ids:
        return 0
    statement = (
        update(Notification)
        .where(Notification.id.in_(ids), Notification.status == S.QUEUED, ~still_wanted())
        .values(status=S.CANCELLED, last_error=UNWANTED, updated_at=now)
        .returning(Notification.id)
    )
    return len(recorded(db.session.scalars(statement), S.CANCELLED, UNWANTED, now))
