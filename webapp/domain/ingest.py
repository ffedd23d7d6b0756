"""The one ingest path: every source hands its events here."""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp import metrics, queueing
from webapp.domain.events import PAYLOADS, InvalidEvent, parse_event
from webapp.domain.notifications import Plan, persist
from webapp.domain.planning import handle_event
from webapp.extensions import db
from webapp.models import EventOutcome, EventSource, InboundEvent
from webapp.models.types import utcnow

log = logging.getLogger(__name__)
MAX_EVENT_ID = 255
# A concurrent event for the same booking or recipient can win a unique key; try again.
ATTEMPTS = 3


@dataclass
class Ingested:
    """What ingest did with one event."""

    duplicate: bool
    event_type: str
    outcome: EventOutcome | None = None
    detail: str | None = None
    due_times: list[datetime] = field(default_factory=list)


def ingest(raw: bytes | str, event_id: str, source: EventSource, replay_of: str | None = None) -> Ingested:
    """Validate, deduplicate and apply one event in a single transaction, then arm wake-ups.

    A replay is stored under its own event_id but keys its messages by the original's, so it
    adds only what the original would plan now and did not (a channel turned on since, say).
    """
    try:
        result = validate_and_apply(raw, event_id, source, replay_of)
    except InvalidEvent:
        metrics.EVENTS.labels(source.value, known_type(raw), "invalid").inc()
        raise
    outcome = "duplicate" if result.duplicate else result.outcome.value
    metrics.EVENTS.labels(source.value, result.event_type, outcome).inc()
    return result


def validate_and_apply(raw: bytes | str, event_id: str, source: EventSource, replay_of: str | None) -> Ingested:
    """The checks, then the event applied once (again, if a concurrent event won a unique key)."""
    if not event_id or len(event_id) > MAX_EVENT_ID:
        raise InvalidEvent(f"event id: must be 1 to {MAX_EVENT_ID} characters")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise InvalidEvent("body: must be UTF-8 JSON") from None
    event = parse_event(text)
    for attempt in range(ATTEMPTS):
        try:
            result = apply_once(event, event_id, source, text, replay_of)
            break
        except IntegrityError:
            db.session.rollback()
            if attempt == ATTEMPTS - 1:
                raise
    queueing.arm_wakeups(result.due_times)
    return result


def known_type(raw: bytes | str) -> str:
    """A refused event's type when it names one Bellhop knows, else 'unknown' (labels must stay few)."""
    try:
        found = json.loads(raw).get("event_type")
    except (ValueError, AttributeError):
        return "unknown"
    return found if isinstance(found, str) and found in PAYLOADS else "unknown"


def apply_once(event, event_id: str, source: EventSource, text: str, replay_of: str | None = None) -> Ingested:
    """Store the event and everything it changes, committing once."""
    if db.session.scalar(select(InboundEvent.id).filter_by(event_id=event_id)) is not None:
        return Ingested(duplicate=True, event_type=event.event_type)
    now = utcnow()
    plan = Plan(now=now, event_id=replay_of or event_id, replay=replay_of is not None)
    outcome, detail = handle_event(event, plan)
    persist(plan)
    # Written last, with its outcome: a concurrent copy of this event fails on the unique event id
    # at commit, and its whole transaction rolls back.
    db.session.add(
        InboundEvent(
            event_id=event_id,
            event_type=event.event_type,
            source=source,
            occurred_at=event.timestamp,
            received_at=now,
            payload=text,
            outcome=outcome,
            detail=detail,
        )
    )
    db.session.commit()
    return Ingested(False, event.event_type, outcome, detail, plan.due_times)
