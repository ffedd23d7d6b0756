"""The planner: applies the inbox's waiting events in batches, each booking's in timestamp order."""

import logging
import os
import socket
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, func, select, update

from webapp.domain.accepting.events import Event, InvalidEvent, contacts_carried, parse_event
from webapp.domain.planning import bookings, notification_rows, planner_batch
from webapp.domain.planning.notification_rows import Plan
from webapp.domain.planning.rules import handle_event
from webapp.domain.sending import states
from webapp.extensions import db, insert_or_skip
from webapp.models import Booking, EventOutcome, InboundEvent, PlannerLock, Recipient
from webapp.models.types import utcnow
from webapp.plumbing import database_errors, logs, metrics, queueing

log = logging.getLogger(__name__)
WAITING = InboundEvent.outcome.is_(None)


def plan_waiting() -> int:
    """Plan every waiting event, one batch per transaction; return how many were planned."""
    size, total = current_app.config["PLANNER_BATCH_SIZE"], 0
    while True:
        planned = plan_batch(size)
        total += planned
        if planned < size:
            return total
        queueing.planner_still_running()
        give_way()


def give_way() -> None:
    """On SQLite, pause before the next batch, so the webhook's inserts get the one write lock.

    A waiting writer sleeps in SQLite's busy handler in steps of up to 100 ms; a planner that takes
    the lock straight back after its commit would hold it nearly all the time.
    """
    pause = current_app.config["PLANNER_SQLITE_PAUSE_SECONDS"]
    if pause and db.engine.dialect.name == "sqlite":
        time.sleep(pause)


def plan_batch(size: int) -> int:
    """Apply up to size waiting events in one commit; return how many were planned.

    A conflict (a deadlock, a busy database) runs the batch again. If the batch fails for a reason of its
    own, it is planned again an event at a time, so one poison event is recorded as failed and the rest go
    through. Only an outage stops the planner until the database is back.
    """
    if not waiting():
        return 0
    now = utcnow()
    ids = list(db.session.scalars(select(InboundEvent.id).where(ready()).order_by(InboundEvent.id).limit(size)))
    db.session.rollback()  # the ids were read without the lock: plan_events takes it, then reads them again
    if not ids:
        return 0
    try:
        due, planned = database_errors.retrying(plan_events, ids, now)
    except Exception as error:
        db.session.rollback()
        if not database_errors.is_fault(error):
            raise
        log.warning("a batch of %d events failed; planning them one at a time", len(ids), exc_info=True)
        due, planned = one_at_a_time(ids, now)
    # This very second, too: messages held back for these events go as soon as the planner has decided.
    queueing.arm_wakeups([*due, utcnow().replace(microsecond=0)])
    return planned


def plan_events(ids: list[int], now: datetime) -> tuple[list[datetime], int]:
    """Under the planner lock, apply the events among ids still waiting and commit; return due times and count."""
    take_lock()
    events = list(db.session.scalars(select(InboundEvent).where(InboundEvent.id.in_(ids), WAITING)))
    due, planned = apply_all(events, now)
    db.session.commit()
    count(planned)
    return due, len(events)


def take_lock() -> None:
    """Make this transaction's first statement a write to the lock row: one planner at a time.

    PostgreSQL holds the row lock, and SQLite its single write lock, until the batch commits, so a
    second planner waits and then sees the first one's outcomes: no event is applied twice, and no
    booking's events out of order.
    """
    holder = f"{socket.gethostname()}:{os.getpid()}"[:64]
    take = update(PlannerLock).where(PlannerLock.id == 1).values(holder=holder)
    if not db.session.execute(take).rowcount:
        # The row is gone (a wiped table): put it back, then lock it, since skipping an insert locks nothing.
        db.session.execute(insert_or_skip(PlannerLock).values(id=1, holder=holder).on_conflict_do_nothing())
        db.session.execute(take)


def in_time_order(events: list[InboundEvent]) -> list[InboundEvent]:
    """The batch by event time, arrival breaking ties, so each booking's events apply in order."""
    return sorted(events, key=lambda event: (event.occurred_at, event.id))


def apply_all(events: list[InboundEvent], now: datetime) -> tuple[list[datetime], list[tuple[str, str, float]]]:
    """Apply stored events in event-time order, sharing look-ups and one insert; ready them for one commit.

    Returns the due times planned, and each event's type, outcome and seconds waited, to count once committed.
    """
    with planner_batch.opened():
        parsed = [(stored, parsed_or_failed(stored, now)) for stored in in_time_order(events)]
        preload([event for _, event in parsed if event is not None])
        lock_messages([event for _, event in parsed if event is not None])
        plans = [apply(stored, event, now) for stored, event in parsed if event is not None]
        notification_rows.write_pending()
    finished = utcnow()  # the lag an event saw runs to its batch's commit, not to the batch's start
    for stored in events:
        stored.planned_at = finished
    planned = [
        (stored.event_type, stored.outcome.value, (finished - stored.received_at).total_seconds()) for stored in events
    ]
    return [moment for plan in plans for moment in plan.due_times], planned


def count(planned: list[tuple[str, str, float]]) -> None:
    """Count committed outcomes, and how long each event waited to be planned."""
    for event_type, outcome, waited in planned:
        metrics.PLANNED.labels(event_type, outcome).inc()
        metrics.PLANNING_LAG.observe(max(waited, 0.0))


def parsed_or_failed(stored: InboundEvent, now: datetime) -> Event | None:
    """The stored event, validated again; None, with the event recorded as failed, if today's rules refuse it."""
    try:
        return parse_event(stored.payload)
    except InvalidEvent as error:  # stored under older rules than these
        record(stored, EventOutcome.FAILED, f"no longer valid: {error}", now)
        return None


def preload(events: list[Event]) -> None:
    """Load the batch's bookings and people in one query each, so its events find them without asking SQL."""
    booking_ids, people_ids = set(), set()
    for event in events:
        payload = event.payload
        if event.event_type.startswith("booking."):
            booking_ids.add(payload.booking_id)
            people_ids.update(bookings.party_ids(payload).values())
        else:
            people_ids.add(payload.user_id)
    planner_batch.loaded(Booking, sorted(booking_ids))
    planner_batch.loaded(Recipient, sorted(people_ids))


def lock_messages(events: list[Event]) -> None:
    """Lock, in id order, the open messages the batch may change: its bookings', and those of people opting out.

    Workers lock the messages they claim in id order too, so neither can hold one the other waits for while
    waiting itself: no deadlock.
    """
    booking_ids, people_ids = set(), set()
    for event in events:
        payload = event.payload
        if event.event_type.startswith("booking."):
            booking_ids.add(payload.booking_id)
        people_ids.update(contact.id for contact in contacts_carried(payload) if contact.preferences)
    known_bookings = [row.id for row in planner_batch.loaded(Booking, sorted(booking_ids)).values()]
    known_people = [row.id for row in planner_batch.loaded(Recipient, sorted(people_ids)).values()]
    states.lock_open(known_bookings, known_people)


def apply(stored: InboundEvent, event: Event, now: datetime) -> Plan:
    """Apply one stored event and record its outcome; return what it planned (written with its batch)."""
    event_id, replay = stored.replay_of or stored.event_id, stored.replay_of is not None
    plan = Plan(now=now, event_id=event_id, received_at=stored.received_at, replay=replay)
    with logs.context(event_id=stored.event_id):
        outcome, detail = handle_event(event, plan)
        notification_rows.persist(plan)
    record(stored, outcome, detail, now)
    return plan


def record(stored: InboundEvent, outcome: EventOutcome, detail: str | None, now: datetime) -> None:
    """Set the event's outcome and when it was planned."""
    stored.outcome, stored.detail, stored.planned_at = outcome, detail[:500] if detail else None, now


def one_at_a_time(ids: list[int], now: datetime) -> tuple[list[datetime], int]:
    """Plan each event in its own transaction; one that still fails is recorded as failed, with why."""
    due, planned = [], 0
    for event_id in ids:
        try:
            found, applied = database_errors.retrying(plan_events, [event_id], now)
            due, planned = due + found, planned + applied
        except Exception as error:
            db.session.rollback()
            if not database_errors.is_fault(error):
                raise
            log.exception("event %s could not be planned; recorded as failed", event_id)
            planned += mark_failed(event_id, f"could not be planned: {error!r}"[:500], now)
    return due, planned


def mark_failed(event_id: int, reason: str, now: datetime) -> int:
    """Record a poison event as failed, so it is visible and never blocks a batch again; return 1 if it was."""
    take_lock()
    stored = db.session.scalar(select(InboundEvent).where(InboundEvent.id == event_id, WAITING))
    if stored is None:
        db.session.commit()
        return 0
    record(stored, EventOutcome.FAILED, reason, now)
    planned = [(stored.event_type, EventOutcome.FAILED.value, (now - stored.received_at).total_seconds())]
    db.session.commit()
    count(planned)
    return 1


def ready():
    """SQL condition: the event waits, and is old enough to plan when a drill holds the planner back."""
    delay = current_app.config["PLANNER_DELAY_SECONDS"]
    if not delay:
        return WAITING
    return and_(WAITING, InboundEvent.received_at <= utcnow() - timedelta(seconds=delay))


def waiting() -> bool:
    """Whether any event is ready to plan; takes no lock, and ends the read so SQLite keeps no snapshot open."""
    found = db.session.scalar(select(InboundEvent.id).where(ready()).limit(1)) is not None
    db.session.rollback()
    return found


def lag(now: datetime | None = None) -> tuple[int, float]:
    """How many events wait to be planned, and how long the oldest has waited (0 when none)."""
    count, oldest = db.session.execute(select(func.count(), func.min(InboundEvent.received_at)).where(WAITING)).one()
    now = now or utcnow()
    return count, max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
