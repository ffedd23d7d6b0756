"""Fallback to another channel when a message cannot reach its person on the first.

BELLHOP_FALLBACKS names, per message type, channels in the order tried. Planning writes the
first one the person can be reached on; when that message fails for good, ends undelivered or
is suppressed, the next reachable channel's message is planned at once, linked to the one it
replaces, as long as it is still useful (a reminder before its booking starts).
"""

from datetime import datetime

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp.domain.people import quiet_hours
from webapp.domain.planning import notification_rows
from webapp.domain.sending import states
from webapp.extensions import db, insert_or_skip
from webapp.models import Notification, NotificationStatus

LATE_RECEIPT = "the message it stands in for was delivered after all"


def still_useful(row: Notification, now: datetime) -> bool:
    """Whether the message is still worth sending now (see notification_rows.useful_until)."""
    until = notification_rows.useful_until(row)
    return until is None or now < until


def next_channel(row: Notification) -> str | None:
    """The next channel after the row's in its type's chain that can reach the person, or None."""
    order = notification_rows.fallback_chain(row.type)
    if row.channel not in order:
        return None
    return notification_rows.first_reachable(row.recipient, row.type, order[order.index(row.channel) + 1 :])


def plan_after(ids: list[int], now: datetime) -> list[datetime]:
    """Plan the fallback of each of these rows that has one and is still useful; return the due times."""
    if not ids or not current_app.config["FALLBACKS"]:
        return []
    rows = db.session.scalars(
        select(Notification)
        .where(Notification.id.in_(ids))
        .options(joinedload(Notification.recipient), joinedload(Notification.booking))
        .execution_options(populate_existing=True)  # a report may have just changed these rows
    )
    planned = [fallback_row(row, channel, now) for row in rows if (channel := fallback_for(row, now))]
    if not planned:
        return []
    # The unique key decides, in the insert: a look-up first would let two reports of one failure both insert.
    skip_taken = insert_or_skip(Notification.__table__).on_conflict_do_nothing(index_elements=["dedupe_key"])
    db.session.execute(skip_taken, planned)
    return sorted({row["due_at"] for row in planned})


def fallback_for(row: Notification, now: datetime) -> str | None:
    """The channel to fall back to for this row, or None when it has none or it is no longer useful."""
    if row.status == NotificationStatus.SENT and row.delivery_state == "delivered":
        return None
    return next_channel(row) if still_useful(row, now) else None


def fallback_row(row: Notification, channel: str, now: datetime) -> dict:
    """The fallback's columns: the same message on the next channel, due now (or after quiet hours), linked."""
    decision = quiet_hours.decide(row.recipient, row.type, now, row.booking)
    return {
        "recipient_id": row.recipient_id,
        "booking_id": row.booking_id,
        "booking_starts_at": row.booking_starts_at,
        "type": row.type,
        "channel": channel,
        "status": NotificationStatus.PENDING,
        "scheduled_at": now,
        "due_at": decision.due,
        "attempts": 0,
        # One fallback per message and channel, however often its trigger is reported.
        "dedupe_key": f"fallback:{row.id}:{channel}",
        "data": {**without_quiet_note(row.data), **decision.note} or None,
        "replaces_id": row.id,
        "created_at": now,
        "updated_at": now,
    }


def without_quiet_note(data: dict | None) -> dict:
    """The replaced message's data without its quiet-hours note: the fallback's own decision makes its note."""
    return {key: value for key, value in (data or {}).items() if key != "quiet_hours"}


def cancel_after_delivery(notification_id: int, now: datetime) -> list[int]:
    """A late delivered receipt: cancel the fallbacks of this message that have not gone yet."""
    waiting = db.session.scalars(
        select(Notification.id).where(Notification.replaces_id == notification_id, Notification.status.in_(states.OPEN))
    )
    moved = states.change(
        list(waiting), states.OPEN, status=NotificationStatus.CANCELLED, last_error=LATE_RECEIPT, updated_at=now
    )
    return states.recorded(moved, NotificationStatus.CANCELLED, LATE_RECEIPT, now)
