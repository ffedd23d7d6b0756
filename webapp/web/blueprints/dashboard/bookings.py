"""The bookings list, a booking's timeline, and the actions on a booking."""

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp.domain.sending.templates.rendering import zone
from webapp.domain.staff import actions
from webapp.extensions import db
from webapp.models import Booking, BookingStatus, Notification, NotificationType, Recipient, Role
from webapp.models.types import utcnow
from webapp.web.blueprints.auth import require
from webapp.web.blueprints.dashboard.blueprint import bp
from webapp.web.blueprints.dashboard.paging import newest_page, parse_day
from webapp.web.query_args import choice


@bp.get("/bookings")
@require(Role.VIEWER)
def bookings():
    """Bookings, newest first, filtered by status, start date range, service and party."""
    query = select(Booking).options(joinedload(Booking.client), joinedload(Booking.expert))
    args = request.args
    status = choice("status", BookingStatus)
    if status:
        query = query.where(Booking.status == status)
    for name, compare in (("from", Booking.starts_at.__ge__), ("to", Booking.starts_at.__lt__)):
        if args.get(name):
            query = query.where(compare(parse_day(args[name])))
    if args.get("service"):
        query = query.where(Booking.service_name.icontains(args["service"], autoescape=True))
    if args.get("person"):
        person = args["person"]
        people = select(Recipient.id).where(
            Recipient.external_id.icontains(person, autoescape=True) | Recipient.name.icontains(person, autoescape=True)
        )
        query = query.where(Booking.client_id.in_(people) | Booking.expert_id.in_(people))
    rows, next_before = newest_page(query, Booking)
    filters = {name: args.get(name, "") for name in ("status", "from", "to", "service", "person")}
    return render_template(
        "dashboard/bookings.html",
        rows=rows,
        filters=filters,
        statuses=[member.value for member in BookingStatus],
        next_before=next_before,
    )


@bp.get("/bookings/<external_id>")
@require(Role.VIEWER)
def booking(external_id: str):
    """A booking's timeline: all its notifications in planned order, in each recipient's zone and in UTC."""
    live_since = utcnow()
    row = db.session.scalar(select(Booking).filter_by(external_id=external_id))
    if row is None:
        abort(404)
    messages = together(
        db.session.scalars(
            select(Notification)
            .options(joinedload(Notification.recipient))
            .where(Notification.booking_id == row.id)
            .order_by(Notification.scheduled_at, Notification.id)
        )
    )
    return render_template(
        "dashboard/booking.html",
        booking=row,
        messages=messages,
        form=FlaskForm(),
        live_since=live_since.isoformat(),
        can_act=current_user.can(Role.OPERATOR),
        zone=zone,
        kinds=sorted({message.type.value for message in messages}),
        outcome=request.args.get("outcome"),
    )


@bp.post("/bookings/<external_id>/cancel-pending")
@require(Role.OPERATOR)
def cancel_pending(external_id: str):
    """Cancel every message of the booking not yet being sent."""
    moved = actions.cancel_pending(booking_or_404(external_id))
    return redirect(url_for("dashboard.booking", external_id=external_id, outcome=f"{moved} cancelled"))


@bp.post("/bookings/<external_id>/resend")
@require(Role.OPERATOR)
def resend(external_id: str):
    """Send a type of message of this booking again, now, on the channels it went out on."""
    kind = request.form.get("type", "")
    if kind not in {member.value for member in NotificationType}:
        abort(400, description=f"unknown message type {kind!r}")
    moved = actions.resend(booking_or_404(external_id), kind)
    return redirect(url_for("dashboard.booking", external_id=external_id, outcome=f"{moved} {kind} resent"))


def together(messages) -> list[Notification]:
    """Messages in planned order, each fallback right after the message it stands in for."""
    messages = list(messages)
    fallbacks: dict[int, list[Notification]] = {}
    for message in messages:
        if message.replaces_id is not None:
            fallbacks.setdefault(message.replaces_id, []).append(message)
    ordered: list[Notification] = []

    def place(message: Notification) -> None:
        ordered.append(message)
        for fallback in fallbacks.get(message.id, []):
            place(fallback)

    known = {message.id for message in messages}
    for message in messages:
        if message.replaces_id is None or message.replaces_id not in known:
            place(message)
    return ordered


def booking_or_404(external_id: str) -> Booking:
    """The booking a URL names, or a 404."""
    return db.first_or_404(select(Booking).filter_by(external_id=external_id))
