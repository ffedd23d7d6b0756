"""Applying booking events to the booking record, in event-time order."""

from dataclasses import dataclass
from datetime import datetime

from webapp.domain.accepting.events import BookingPayload
from webapp.domain.people import recipients
from webapp.domain.planning import planner_batch
from webapp.extensions import db
from webapp.models import Booking, BookingStatus, EventOutcome

STATUS_AFTER = {
    "booking.created": BookingStatus.REQUESTED,
    "booking.accepted": BookingStatus.ACCEPTED,
    "booking.cancelled": BookingStatus.CANCELLED,
}


@dataclass
class Applied:
    """The booking an event touched and whether its state changed."""

    booking: Booking
    outcome: EventOutcome
    detail: str | None = None
    moved: bool = False
    created: bool = False


def find_or_create(external_id: str) -> tuple[Booking, bool]:
    """Return the booking with this platform id, creating a bare one if new; and whether it was created."""
    booking = planner_batch.loaded(Booking, [external_id]).get(external_id)
    if booking is not None:
        return booking, False
    booking = Booking(external_id=external_id, status=BookingStatus.REQUESTED)
    db.session.add(booking)
    planner_batch.remember(Booking, external_id, booking)
    return booking, True


def apply(event_type: str, at: datetime, payload: BookingPayload, default_minutes: int) -> Applied:
    """Apply one booking event; an older event or a cancelled booking changes nothing."""
    parties = party_ids(payload)
    people = recipients.upsert_many({external_id: getattr(payload, role) for role, external_id in parties.items()}, at)
    booking, created = find_or_create(payload.booking_id)  # parties first: the booking row is written with them
    for role, external_id in parties.items():
        setattr(booking, role, people[external_id])
    if booking.last_event_at and at < booking.last_event_at:
        return Applied(booking, EventOutcome.STALE, "older than the booking's newest event")
    if booking.status == BookingStatus.CANCELLED:
        return Applied(booking, EventOutcome.IGNORED, "booking is cancelled")
    old_start = booking.starts_at
    update_fields(booking, payload, default_minutes)
    booking.status = next_status(booking.status, event_type)
    booking.last_event_at = at
    moved = old_start is not None and booking.starts_at != old_start
    return Applied(booking, EventOutcome.APPLIED, moved=moved, created=created)


def party_ids(payload: BookingPayload) -> dict[str, str]:
    """Return the platform ids of the client and expert the event names."""
    ids = {}
    for role in ("client", "expert"):
        contact = getattr(payload, role)
        external_id = getattr(payload, f"{role}_id") or (contact.id if contact else None)
        if external_id:
            ids[role] = external_id
    return ids


def update_fields(booking: Booking, payload: BookingPayload, default_minutes: int) -> None:
    """Copy the descriptive fields and times an event carries."""
    if payload.service_name is not None:
        booking.service_name = payload.service_name
    if payload.scheduled_time is not None:
        booking.starts_at = payload.scheduled_time
        booking.ends_at = payload.end(default_minutes)


def next_status(current: BookingStatus, event_type: str) -> BookingStatus:
    """Return the status after an event; a repeated 'created' never undoes 'accepted'."""
    status = STATUS_AFTER.get(event_type, current)
    if status == BookingStatus.REQUESTED and current == BookingStatus.ACCEPTED:
        return current
    return status
