"""The notifications list, one notification, and the actions on them."""

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp import queueing
from webapp.blueprints.auth import require
from webapp.blueprints.dashboard import bp
from webapp.blueprints.dashboard.paging import parse_day, scheduled_page
from webapp.domain import history, staff, transitions
from webapp.domain.channel_names import KNOWN_CHANNELS
from webapp.extensions import db
from webapp.models import Booking, Notification, NotificationStatus, NotificationType, Recipient, Role
from webapp.models.types import utcnow


@bp.get("/notifications")
@require(Role.VIEWER)
def notifications():
    """Newest first, filtered as the URL says (so a view can be bookmarked), a page at a time by id."""
    live_since = utcnow()  # before the query: a change committed while it runs is still reported
    filters, sort = notification_filters(request.args), request.args.get("sort", LATEST_FIRST)
    if sort not in SORTS:
        abort(400, description=f"sort is one of {', '.join(SORTS)}, got {sort!r}")
    query = filtered(select(Notification).options(joinedload(Notification.recipient)), filters)
    rows, next_before = scheduled_page(query, Notification, Notification.scheduled_at, SORTS[sort])
    return render_template(
        "dashboard/notifications.html",
        rows=rows,
        filters=filters,
        sort=sort,
        page_link={
            name: value
            for name, value in {**filters, "sort": sort}.items()
            if value and (name, value) != ("sort", LATEST_FIRST)
        },
        active_filters={name: value for name, value in filters.items() if value},
        statuses=[member.value for member in NotificationStatus],
        kinds=[member.value for member in NotificationType],
        channels=KNOWN_CHANNELS,
        next_before=next_before,
        form=FlaskForm(),
        can_act=current_user.can(Role.OPERATOR),
        outcome=request.args.get("outcome"),
        live_since=live_since.isoformat(),
    )


def notification_filters(args) -> dict[str, str]:
    """The list's filters as the URL or a form gives them, blank when unset."""
    return {name: args.get(name, "").strip() for name in NOTIFICATION_FILTERS}


# Scheduled time, latest first (the default) or earliest first; the value says whether it descends.
LATEST_FIRST = "-scheduled"
SORTS = {LATEST_FIRST: True, "scheduled": False}
NOTIFICATION_FILTERS = ("status", "type", "channel", "recipient", "booking", "from", "to", "error")


def filtered(query, filters: dict[str, str]):
    """Apply the notification list's filters; a 400 names a value that cannot match anything."""
    if filters["status"]:
        if filters["status"] not in {member.value for member in NotificationStatus}:
            abort(400, description=f"unknown status {filters['status']!r}")
        query = query.where(Notification.status == filters["status"])
    if filters["type"]:
        if filters["type"] not in {member.value for member in NotificationType}:
            abort(400, description=f"unknown type {filters['type']!r}")
        query = query.where(Notification.type == filters["type"])
    if filters["channel"]:
        query = query.where(Notification.channel == filters["channel"])
    if filters["recipient"]:
        pattern = f"%{filters['recipient']}%"
        people = select(Recipient.id).where(
            Recipient.name.ilike(pattern)
            | Recipient.email.ilike(pattern)
            | Recipient.phone.ilike(pattern)
            | Recipient.external_id.ilike(pattern)
        )
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
            Notification.last_error.is_not(None), Notification.last_error.ilike(f"%{filters['error']}%")
        )
    return query


@bp.get("/notifications/<int:notification_id>")
@require(Role.VIEWER)
def notification(notification_id: int):
    """One message: who, which booking, what it said, every attempt, and why it is in its state."""
    live_since = utcnow()
    row = db.session.get(Notification, notification_id)
    if row is None:
        abort(404)
    attempts = sorted(row.attempt_log, key=lambda attempt: attempt.number)
    return render_template(
        "dashboard/notification.html",
        row=row,
        attempts=attempts,
        form=FlaskForm(),
        history=history.timeline(row),
        live_since=live_since.isoformat(),
        can_act=current_user.can(Role.OPERATOR),
        retryable=row.status in transitions.RETRYABLE,
        cancellable=row.status in transitions.OPEN,
        outcome=request.args.get("outcome"),
    )


@bp.post("/notifications/<int:notification_id>/<any(retry, cancel):action>")
@require(Role.OPERATOR)
def act_on_notification(notification_id: int, action: str):
    """Retry or cancel one notification through the same compare-and-set as the workers, so they race safely."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    moved = act([notification_id], action)
    staff.audit(action, target=f"notification {notification_id}", rows=moved)
    db.session.commit()
    outcome = "done" if moved else "nothing to do: its status had already changed"
    return redirect(url_for("dashboard.notification", notification_id=notification_id, outcome=outcome))


DONE_BY = {"retry": "retried by", "cancel": "cancelled by"}


def act(ids: list[int], action: str) -> int:
    """Retry or cancel rows through the same compare-and-set the workers use; return how many moved."""
    now, reason = utcnow(), f"{DONE_BY[action]} {current_user.email}"
    change = transitions.retry_now if action == "retry" else transitions.cancel_now
    moved = change(ids, now, reason)
    if moved and action == "retry":
        queueing.arm_wakeups([now])
    return len(moved)
