"""The one ingest path: every source hands its events here, and the inbox keeps them until planned."""

import json
import logging
from dataclasses import dataclass

from sqlalchemy import bindparam, text

from webapp.domain.accepting.events import PAYLOADS, Contact, Event, InvalidEvent, contacts_carried, parse_event
from webapp.extensions import db
from webapp.models import EventSource, InboundEvent
from webapp.models.types import UTCDateTime, utcnow
from webapp.plumbing import metrics, queueing

log = logging.getLogger(__name__)
MAX_EVENT_ID = 255


@dataclass
class Accepted:
    """What accept did with one event: stored it for the planner, or found its id already stored."""

    duplicate: bool
    event_type: str


def accept(raw: bytes | str, event_id: str, source: EventSource, replay_of: str | None = None) -> Accepted:
    """Validate an event and store it in the inbox in one short transaction, then wake the planner.

    Returning means the event is durable, not yet planned. A replay is stored under its own event_id
    and names the original, whose id keys its messages.
    """
    accepted = stage(raw, event_id, source, replay_of)
    db.session.commit()
    if not accepted.duplicate:
        queueing.wake_planner()
    return accepted


def stage(raw: bytes | str, event_id: str, source: EventSource, replay_of: str | None = None) -> Accepted:
    """Validate an event and add it to the caller's transaction unless its id is taken; the caller commits."""
    try:
        event, payload = validated(raw, event_id)
    except InvalidEvent:
        metrics.EVENTS.labels(source.value, known_type(raw), "invalid").inc()
        raise
    stored = store(event, payload, event_id, source, replay_of)
    metrics.EVENTS.labels(source.value, event.event_type, "accepted" if stored else "duplicate").inc()
    return Accepted(not stored, event.event_type)


def validated(raw: bytes | str, event_id: str) -> tuple[Event, str]:
    """Every check the planner relies on, so nothing it would refuse gets in; raises InvalidEvent."""
    if not event_id or len(event_id) > MAX_EVENT_ID:
        raise InvalidEvent(f"event id: must be 1 to {MAX_EVENT_ID} characters")
    try:
        body = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise InvalidEvent("body: must be UTF-8 JSON") from None
    return parse_event(body), body


# The same SQL on SQLite (3.35+) and PostgreSQL. Written as text because SQLAlchemy compiles a dialect
# insert with ON CONFLICT afresh for every call (measured: a quarter of an accept's time); text is cached.
INSERT_EVENT = text(
    "INSERT INTO inbound_events (event_id, event_type, source, occurred_at, received_at, payload, replay_of, "
    "booking_ref, person_ref, other_person_ref) "
    "VALUES (:event_id, :event_type, :source, :occurred_at, :received_at, :payload, :replay_of, "
    ":booking_ref, :person_ref, :other_person_ref) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING id"
).bindparams(
    bindparam("source", type_=InboundEvent.__table__.c.source.type),
    bindparam("occurred_at", type_=UTCDateTime()),
    bindparam("received_at", type_=UTCDateTime()),
)


def store(event: Event, payload: str, event_id: str, source: EventSource, replay_of: str | None) -> bool:
    """Insert the event unless its id is stored already (the unique key decides, no look-up); the caller commits."""
    row = {
        "event_id": event_id,
        "event_type": event.event_type,
        "source": source,
        "occurred_at": event.timestamp,
        "received_at": utcnow(),
        "payload": payload,
        "replay_of": replay_of,
        **what_it_may_change(event),
    }
    return db.session.execute(INSERT_EVENT, row).scalar() is not None


def what_it_may_change(event: Event) -> dict:
    """The booking and people a waiting event may change, which the send path holds messages back for.

    A booking event may cancel or move its booking. Any event that carries a person's details (a user event,
    or contacts inline) may change their address or withdraw their consent.
    """
    booking = event.payload.booking_id if event.event_type.startswith("booking.") else None
    people = [contact.id for contact in contacts_carried(event.payload) if carries_details(contact)] + [None, None]
    return {"booking_ref": booking, "person_ref": people[0], "other_person_ref": people[1]}


def carries_details(contact: Contact) -> bool:
    """Whether a contact gives anything beyond the person's id."""
    return any(value is not None for name, value in contact if name != "id")


def known_type(raw: bytes | str) -> str:
    """A refused event's type when it names one Bellhop knows, else 'unknown' (labels must stay few)."""
    try:
        found = json.loads(raw).get("event_type")
    except (ValueError, AttributeError, RecursionError):  # not JSON, not an object, or nested past the parser
        return "unknown"
    return found if isinstance(found, str) and found in PAYLOADS else "unknown"
