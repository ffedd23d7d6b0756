"""The notification list's filters, read from a URL or a form, shared by the list and its bulk actions."""

from flask import abort
from sqlalchemy import select

from webapp.domain.after_sending import receipts
from webapp.domain.people import recipients
from webapp.models import Booking, Notification, NotificationStatus, NotificationType, Recipient
from webapp.web.blueprints.dashboard.paging import parse_day


def notification_filters(args) -> dict[str, str]:
    """The list's filters as the URL or a form gives them, blank when unset."""
    return {name: args.get(name, "").strip() for name in NOTIFICATION_FILTERS}


NOTIFICATION_FILTERS = ("status", "delivery", "type", "channel", "recipient", "booking", "from", "to", "error")


def filtered(query, filters: dict[str, str]):
    """Apply the notification list's filters; a 400 names a value that cannot match anything."""
    if filters["status"]:
        if filters["status"] not in {member.value for member in NotificationStatus}:
            abort(400, description=f"unknown status {filters['status']!r}")
        query = query.where(Notification.status == filters["status"])
    if filters["delivery"]:
        if filters["delivery"] not in receipts.STATES:
            abort(400, description=f"delivery is one of {', '.join(receipts.STATES)}, got {filters['delivery']!r}")
        query = query.where(Notification.delivery_state == filters["delivery"])
    if filters["type"]:
        if filters["type"] not in {member.value for member in NotificationType}:
            abort(400, description=f"unknown type {filters['type']!r}")
        query = query.where(Notification.type == filters["type"])
    if filters["channel"]:
        query = query.where(Notification.channel == filters["channel"])
    if filters["recipient"]:
        people = select(Recipient.id).where(recipients.matching(filters["recipient"]))
        query = query.where(Notification.recipient_id.in_(people))
    if filters["booking"]:
        query = query.where(
            Notification.booking_id.in_(select(Booking.id).where(Booking.external_id == filters["booking"]))
        )
    if filters["from"]:
        query = query.where(Notification.scheduled_at >= parse_day(filters["from"]))
    if filters["to"]:
        query = query.where(Notification.scheduled_at < parse_day(filters["to"]))
    if filters["error"]:
        # "is not null" lets the planner use the index of rows with an error, a small part of the table.
        query = query.where(
            Notification.last_error.is_not(None), Notification.last_error.icontains(filters["error"], autoescape=True)
        )
    return query
