"""Creating notification rows: one per recipient and channel, deduplicated by key."""

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import insert, select

from webapp.domain.people import preferences, quiet_hours
from webapp.domain.planning import planner_batch
from webapp.extensions import db
from webapp.models import (
    Booking,
    Notification,
    NotificationStatus,
    NotificationType,
    Recipient,
)
from webapp.models.contact_fields import CONTACT_FOR_CHANNEL, KNOWN_CHANNELS  # noqa: F401  (re-exported)
from webapp.plumbing import metrics

NO_CHANNEL = "none"


@dataclass
class Planned:
    """A notification an event calls for, before it is written."""

    recipient: Recipient
    booking: Booking | None
    kind: NotificationType
    channel: str
    due: datetime
    key: str
    data: dict | None
    problem: str | None
    suppressed: str | None = None

    def row(self) -> dict:
        """Return the column values to insert; an unreachable recipient's row is failed at once."""
        booking = self.booking
        status = NotificationStatus.PENDING
        if self.problem:
            status = NotificationStatus.FAILED
        elif self.suppressed:
            status = NotificationStatus.SUPPRESSED
        return {
            "recipient_id": self.recipient.id,
            "booking_id": booking.id if booking else None,
            "booking_starts_at": booking.starts_at if booking else None,
            "type": self.kind,
            "channel": self.channel,
            "status": status,
            "last_error": self.problem or self.suppressed,
            "scheduled_at": self.due,
            "due_at": self.due,
            "attempts": 0,
            "dedupe_key": self.key,
            "data": self.data,
        }


@dataclass
class Plan:
    """What one event planned: candidate rows, written together once the event is handled."""

    now: datetime
    event_id: str
    # When the event was received: what was still to come then is planned, even if the planner ran behind.
    received_at: datetime | None = None
    rows: list[Planned] = field(default_factory=list)
    due_times: list[datetime] = field(default_factory=list)
    # The booking this event created, if any: it can have no notification rows yet.
    new_booking: Booking | None = None
    # A replay keys its messages by the original event's id, so those keys may exist already.
    replay: bool = False

    def __post_init__(self):
        self.received_at = min(self.received_at or self.now, self.now)


def channels_for(recipient: Recipient) -> list[str]:
    """Return the configured channels this recipient can be reached on; NO_CHANNEL when there are none."""
    reachable = [channel for channel in turned_on_channels() if missing_contact(recipient, channel) is None]
    return reachable or [NO_CHANNEL]


def turned_on_channels() -> list[str]:
    """The configured channels, plus webhook unless it is switched off."""
    channels = list(current_app.config["CHANNELS"])
    if current_app.config["WEBHOOK_CHANNEL_ENABLED"]:
        channels.append("webhook")
    return list(dict.fromkeys(channels))


def missing_contact(recipient: Recipient, channel: str) -> str | None:
    """Explain why a recipient cannot be reached on a channel, or return None."""
    if channel == NO_CHANNEL:
        turned_on = ", ".join(turned_on_channels()) or "none"
        return (
            f"recipient {recipient.external_id} cannot be reached: none of the channels turned on "
            f"({turned_on}) has a contact for them"
        )
    needed = CONTACT_FOR_CHANNEL.get(channel)
    if needed and not getattr(recipient, needed):
        return f"recipient {recipient.external_id} has no {needed.replace('_', ' ')} for {channel}"
    return None


# Reminders of a session to come are pointless once it has begun; the rest stay useful until it ends.
BEFORE_START = (NotificationType.BOOKING_24H, NotificationType.BOOKING_1H)


def useful_until(notification: Notification) -> datetime | None:
    """The last moment sending this message still makes sense; None when it never goes stale."""
    booking = notification.booking
    return None if booking is None else reminder_useful_until(notification.type, booking)


def reminder_useful_until(kind: NotificationType, booking: Booking) -> datetime | None:
    """The last moment a message of this kind about this booking still makes sense."""
    return booking.starts_at if kind in BEFORE_START else booking.ends_at


def fallback_chain(kind: NotificationType) -> list[str]:
    """The channels tried in order for this type (BELLHOP_FALLBACKS); empty when it has none."""
    return current_app.config["FALLBACKS"].get(kind.value, [])


def first_reachable(recipient: Recipient, kind: NotificationType, order: list[str]) -> str | None:
    """The first of these channels that is turned on, has the person's address, and they have not opted out of."""
    wanted = preferences.for_recipients({recipient.id}).get(recipient.id, []) if recipient.id else []
    turned_on = turned_on_channels()
    for channel in order:
        reachable = channel in turned_on and missing_contact(recipient, channel) is None
        if reachable and not preferences.suppression(wanted, channel, kind):
            return channel
    return None


def with_fallbacks(recipient: Recipient, kind: NotificationType, channels: list[str]) -> list[str]:
    """Of the channels a message would go out on, keep only the first reachable one of its fallback chain."""
    order = fallback_chain(kind)
    if not order:
        return channels
    # Opted out of every channel of the chain: plan the first anyway, so the opt-out is on record.
    first = first_reachable(recipient, kind, order) or next((channel for channel in order if channel in channels), None)
    kept = [channel for channel in channels if channel not in order or channel == first]
    return kept or [NO_CHANNEL]


def booking_key(booking: Booking, kind: NotificationType, recipient: Recipient, channel: str) -> str:
    """Key one booking message: the same booking, start, type, person and channel only once."""
    start = booking.starts_at.isoformat() if booking.starts_at else "none"
    return f"booking:{booking.external_id}:{kind.value}:{recipient.external_id}:{channel}:{start}"


def event_key(event_id: str, kind: NotificationType, recipient: Recipient, channel: str) -> str:
    """Key a message that belongs to a single event (payments, account messages)."""
    return f"event:{event_id}:{kind.value}:{recipient.external_id}:{channel}"


# Keys per look-up: well under any database's limit on bound parameters.
KEYS_PER_QUERY = 500


def existing_keys(keys: list[str]) -> set[str]:
    """Return which of these dedupe keys already have a row."""
    taken = set()
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start : start + KEYS_PER_QUERY]
        taken.update(db.session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(chunk))))
    return taken


def add(
    plan: Plan,
    recipient: Recipient,
    kind: NotificationType,
    due: datetime,
    booking: Booking | None = None,
    data: dict | None = None,
) -> None:
    """Plan a message on each of the recipient's channels, within their quiet hours; persist() writes what is new."""
    decision = quiet_hours.decide(recipient, kind, due, booking)
    data = {**(data or {}), **decision.note} or None
    for channel in with_fallbacks(recipient, kind, channels_for(recipient)):
        if booking:
            key = booking_key(booking, kind, recipient, channel)
        else:
            key = event_key(plan.event_id, kind, recipient, channel)
        problem = missing_contact(recipient, channel)
        plan.rows.append(Planned(recipient, booking, kind, channel, decision.due, key, data, problem))


def persist(plan: Plan) -> None:
    """Write what the event planned: with its batch's other plans when the planner has a batch open, else now."""
    current = planner_batch.current()
    if current is None:
        persist_all([plan])
    else:
        current.unwritten.append(plan)


def write_pending() -> None:
    """Write the batch's planned messages now: SQL about to read a booking's or person's messages must see them."""
    current = planner_batch.current()
    if current is None:
        return
    plans, current.unwritten = current.unwritten, []
    persist_all(plans)
    db.session.flush()  # and the batch's new bookings and people get the ids such SQL names them by


def persist_all(plans: list[Plan]) -> int:
    """Insert the planned rows whose keys are new: one look-up and one insert for all these plans.

    Plans are in the order their events were applied: when two plan the same key, the first one's row stands,
    as it would had each been written at once.
    """
    candidates: dict[str, tuple[Plan, Planned]] = {}
    for plan in plans:
        for planned in plan.rows:
            candidates.setdefault(planned.key, (plan, planned))
    if not candidates:
        return 0
    # Only rows of a booking already stored can clash: an event's own keys carry its (unique) event id, and
    # a booking created by this event has no rows yet. The unique key still guards a concurrent duplicate.
    maybe_taken = [
        key
        for key, (plan, planned) in candidates.items()
        if plan.replay or (planned.booking is not None and planned.booking is not plan.new_booking)
    ]
    db.session.flush()  # new recipients and bookings get their ids
    taken = existing_keys(maybe_taken)
    new = [(plan, planned) for key, (plan, planned) in candidates.items() if key not in taken]
    apply_preferences([planned for _, planned in new])
    rows = []
    for plan, planned in new:
        row = planned.row() | {"created_at": plan.now, "updated_at": plan.now}
        rows.append(row)
        if row["status"] == NotificationStatus.PENDING:
            plan.due_times.append(row["due_at"])
    if rows:
        # RETURNING makes SQLAlchemy send multi-row VALUES statements ("insertmanyvalues") rather than a
        # statement per row, which PostgreSQL would plan and run one by one.
        db.session.execute(insert(Notification.__table__).returning(Notification.id), rows)
    return len(rows)


def apply_preferences(planned_rows: list[Planned]) -> None:
    """Mark the rows a recipient's preferences rule out, so they are recorded as suppressed, not dropped."""
    found = preferences.for_recipients({planned.recipient.id for planned in planned_rows})
    for planned in planned_rows:
        if planned.recipient.id in found:
            planned.suppressed = preferences.suppression(found[planned.recipient.id], planned.channel, planned.kind)
            if planned.suppressed:
                metrics.SUPPRESSIONS.labels(planned.channel, "planning").inc()
