"""The planner: applies the inbox's waiting events in batches, each booking's in timestamp order."""

import logging
import os
import socket
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from webapp import logs, metrics, queueing
from webapp.domain.events import InvalidEvent, parse_event
from webapp.domain.notifications import Plan, persist
from webapp.domain.planning import handle_event
from webapp.extensions import db, insert_or_skip
from webapp.models import EventOutcome, InboundEvent, PlannerLock
from webapp.models.types import utcnow

log = logging.getLogger(__name__)
# The database is out of reach: nothing was planned, and the job runs again later. Not the event's fault.
UNREACHABLE = (OperationalError, InterfaceError)
WAITING = InboundEvent.outcome.is_(None)


def plan_waiting() -> int:
    """Plan every waiting event, one batch per transaction; return how many were planned."""
    size, total = current_app.config["PLANNER_BATCH_SIZE"], 0
    while True:
        planned = plan_batch(size)
        total += planned
        if planned < size:
            return total


def plan_batch(size: int) -> int:
    """Claim up to size waiting events and apply them in one commit; return how many were claimed.

    If the batch fails, it is planned again an event at a time, so one poison event is recorded as
    failed and the rest go through.
    """
    if db.session.scalar(select(InboundEvent.id).where(WAITING).limit(1)) is None:
        db.session.rollback()  # the common case in a sweep: no write, no lock
        return 0
    now = utcnow()
    take_lock()
    events = list(db.session.scalars(select(InboundEvent).where(WAITING).order_by(InboundEvent.id).limit(size)))
    if not events:
        db.session.commit()
        return 0
    ids = [event.id for event in events]
    try:
        due = [moment for event in in_time_order(events) for moment in apply(event, now)]
        db.session.commit()
    except UNREACHABLE:
        db.session.rollback()
        raise
    except Exception:
        db.session.rollback()
        log.warning("a batch of %d events failed; planning them one at a time", len(ids), exc_info=True)
        due = one_at_a_time(ids, now)
    queueing.arm_wakeups(due)
    return len(ids)


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


def apply(stored: InboundEvent, now: datetime) -> list[datetime]:
    """Apply one stored event and record its outcome; return the due times it planned."""
    with logs.context(event_id=stored.event_id):
        try:
            event = parse_event(stored.payload)
        except InvalidEvent as error:  # stored under older rules than these
            record(stored, EventOutcome.FAILED, f"no longer valid: {error}", now)
            return []
        plan = Plan(now=now, event_id=stored.replay_of or stored.event_id, replay=stored.replay_of is not None)
        outcome, detail = handle_event(event, plan)
        persist(plan)
    record(stored, outcome, detail, now)
    return plan.due_times


def record(stored: InboundEvent, outcome: EventOutcome, detail: str | None, now: datetime) -> None:
    """Set the event's outcome, and count it with how long it waited."""
    stored.outcome, stored.detail, stored.planned_at = outcome, detail[:500] if detail else None, now
    metrics.PLANNED.labels(stored.event_type, outcome.value).inc()
    metrics.PLANNING_LAG.observe(max((now - stored.received_at).total_seconds(), 0.0))


def one_at_a_time(ids: list[int], now: datetime) -> list[datetime]:
    """Plan each event in its own transaction; one that still fails is recorded as failed, with why."""
    due = []
    for event_id in ids:
        take_lock()
        stored = db.session.scalar(select(InboundEvent).where(InboundEvent.id == event_id, WAITING))
        if stored is None:
            db.session.commit()
            continue
        try:
            due += apply(stored, now)
            db.session.commit()
        except UNREACHABLE:
            db.session.rollback()
            raise
        except Exception as error:
            db.session.rollback()
            log.exception("event %s could not be planned; recorded as failed", event_id)
            mark_failed(event_id, f"could not be planned: {error!r}", now)
    return due


def mark_failed(event_id: int, reason: str, now: datetime) -> None:
    """Record a poison event as failed, so it is visible and never blocks a batch again."""
    take_lock()
    stored = db.session.scalar(select(InboundEvent).where(InboundEvent.id == event_id, WAITING))
    if stored is not None:
        record(stored, EventOutcome.FAILED, reason, now)
    db.session.commit()


def lag(now: datetime | None = None) -> tuple[int, float]:
    """How many events wait to be planned, and how long the oldest has waited (0 when none)."""
    count, oldest = db.session.execute(select(func.count(), func.min(InboundEvent.received_at)).where(WAITING)).one()
    now = now or utcnow()
    return count, max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
