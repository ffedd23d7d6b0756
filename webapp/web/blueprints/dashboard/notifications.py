"""The notifications list, one notification, and the actions on them."""

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp.domain.after_sending import receipts
from webapp.domain.sending import history, states
from webapp.domain.staff import actions
from webapp.extensions import db
from webapp.models import Notification, NotificationStatus, NotificationType, Role
from webapp.models.contact_fields import KNOWN_CHANNELS
from webapp.models.types import utcnow
from webapp.web.blueprints.auth import require
from webapp.web.blueprints.dashboard.blueprint import bp
from webapp.web.blueprints.dashboard.filters import filtered, notification_filters
from webapp.web.blueprints.dashboard.paging import scheduled_page


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
        delivery_states=receipts.STATES,
        kinds=[member.value for member in NotificationType],
        channels=KNOWN_CHANNELS,
        next_before=next_before,
        form=FlaskForm(),
        can_act=current_user.can(Role.OPERATOR),
        outcome=request.args.get("outcome"),
        live_since=live_since.isoformat(),
    )


# Scheduled time, latest first (the default) or earliest first; the value says whether it descends.
LATEST_FIRST = "-scheduled"
SORTS = {LATEST_FIRST: True, "scheduled": False}


@bp.get("/notifications/<id:notification_id>")
@require(Role.VIEWER)
def notification(notification_id: int):
    """One message: who, which booking, what it said, every attempt, and why it is in its state."""
    live_since = utcnow()
    row = db.session.get(Notification, notification_id)
    if row is None:
        abort(404)
    attempts = sorted(row.attempt_log, key=lambda attempt: attempt.number)
    fallbacks = db.session.scalars(select(Notification).where(Notification.replaces_id == row.id))
    return render_template(
        "dashboard/notification.html",
        row=row,
        fallbacks=list(fallbacks),
        attempts=attempts,
        form=FlaskForm(),
        history=history.timeline(row),
        live_since=live_since.isoformat(),
        can_act=current_user.can(Role.OPERATOR),
        retryable=row.status in states.RETRYABLE,
        cancellable=row.status in states.OPEN,
        outcome=request.args.get("outcome"),
    )


@bp.post("/notifications/<id:notification_id>/<any(retry, cancel):action>")
@require(Role.OPERATOR)
def act_on_notification(notification_id: int, action: str):
    """Retry or cancel one notification through the same compare-and-set as the workers, so they race safely."""
    moved = actions.act(action, [notification_id], target=f"notification {notification_id}")
    outcome = "done" if moved else "nothing to do: its status had already changed"
    return redirect(url_for("dashboard.notification", notification_id=notification_id, outcome=outcome))
