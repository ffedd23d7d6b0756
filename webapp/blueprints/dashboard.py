"""The support dashboard: notifications, bookings, inbound events, the audit log and template previews."""

from datetime import datetime, timedelta, timezone

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webapp import queueing
from webapp.blueprints.auth import require
from webapp.domain import overview, staff, template_check, transitions
from webapp.domain.channel_names import CONTACT_FOR_CHANNEL, KNOWN_CHANNELS
from webapp.domain.ingest import ingest
from webapp.domain.rendering import RenderError, zone
from webapp.extensions import db
from webapp.models import (
    AuditEntry,
    Booking,
    BookingStatus,
    EventSource,
    InboundEvent,
    Notification,
    NotificationStatus,
    NotificationType,
    Recipient,
    Role,
)
from webapp.models.types import utcnow

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
SEND_TEST_JOB = "workers.jobs.send_test"
# Test sends go to an address the operator types. Not the webhook channel: posting to any URL an operator
# types would let the dashboard reach inside our network (SSRF) until the allowlist of issue 7 exists.
TESTABLE = ("log", "email", "sms", "telegram")


class SendTestForm(FlaskForm):
    address = StringField("Send to", validators=[DataRequired(), Length(max=320)])


@bp.get("/")
@require(Role.VIEWER)
def home():
    """The overview: counts, failure rate, what is due, lateness, the queue, and 48 hours of sends."""
    now = utcnow()
    day, week = overview.counts_since(now - timedelta(hours=24)), overview.counts_since(now - timedelta(days=7))
    hours = overview.hourly(now)
    return render_template("dashboard/home.html", day=day, week=week, statuses=[s.value for s in NotificationStatus],
                           failure_rate=overview.failure_rate(day), due=overview.due_within(now, timedelta(hours=1)),
                           lateness=overview.lateness(now, timedelta(hours=1)), queue=overview.queue_state(),
                           hours=hours, peak=max([1] + [slot["sent"] + slot["failed"] for slot in hours]))


@bp.get("/templates")
@require(Role.VIEWER)
def templates():
    """Every type, channel and language, each linking to its preview."""
    return render_template("dashboard/templates.html", kinds=list(NotificationType), channels=KNOWN_CHANNELS,
                           locales=template_check.shipped_locales())


def template_or_404(locale: str, kind: str, channel: str) -> NotificationType:
    """The type a preview URL names, or a 404 for an unknown language, type or channel."""
    if locale not in template_check.shipped_locales() or channel not in KNOWN_CHANNELS:
        abort(404)
    try:
        return NotificationType(kind)
    except ValueError:
        abort(404)


@bp.get("/templates/<locale>/<kind>/<channel>")
@require(Role.VIEWER)
def preview(locale: str, kind: str, channel: str):
    """One message as its recipient would get it, from sample data or a chosen booking."""
    kind_enum = template_or_404(locale, kind, channel)
    booking_id, party = request.args.get("booking", "").strip(), request.args.get("for", "client")
    booking, problem = None, None
    if booking_id:
        booking = db.session.scalar(select(Booking).filter_by(external_id=booking_id))
        problem = None if booking else f"No booking {booking_id!r}; showing sample data."
    try:
        facts = template_check.preview(kind_enum, channel, locale, booking, "expert" if party == "expert" else "client")
    except RenderError as error:
        facts, problem = None, str(error)
    can_send = channel in TESTABLE and current_user.can(Role.OPERATOR)
    return render_template("dashboard/preview.html", kind=kind, channel=channel, locale=locale, facts=facts,
                           problem=problem, booking_id=booking_id if booking else "", party=party,
                           form=SendTestForm() if can_send else None, test=test_status(request.args.get("test")),
                           contact_field=CONTACT_FOR_CHANNEL.get(channel, "name").replace("_", " "))


@bp.post("/templates/<locale>/<kind>/<channel>/send-test")
@require(Role.OPERATOR)
def send_test(locale: str, kind: str, channel: str):
    """Queue a test send of this template to an address the operator gives; the audit log keeps it."""
    template_or_404(locale, kind, channel)
    form = SendTestForm()
    if channel not in TESTABLE or not form.validate_on_submit():
        abort(400)
    booking_id, party = request.form.get("booking") or None, request.form.get("for", "client")
    contact = {CONTACT_FOR_CHANNEL.get(channel, "name"): form.address.data.strip()}
    job = queueing.queue().enqueue(SEND_TEST_JOB, kind, channel, locale, booking_id, party, contact,
                                   result_ttl=3600, failure_ttl=3600, job_timeout=60)
    staff.audit("send_test", target=f"{locale}/{kind}/{channel} to {form.address.data.strip()}", rows=1,
                detail=f"job {job.id}")
    db.session.commit()
    return redirect(url_for("dashboard.preview", locale=locale, kind=kind, channel=channel, test=job.id,
                            booking=booking_id or "", **{"for": party}))


def test_status(job_id: str | None) -> dict | None:
    """What became of a test send: queued, sent with the provider's answer, or failed with the reason."""
    if not job_id:
        return None
    try:
        job = Job.fetch(job_id, connection=queueing.redis_connection())
    except NoSuchJobError:
        return {"state": "unknown", "detail": "no such test send (results are kept for an hour)"}
    if job.is_finished:
        return {"state": "sent", "detail": job.return_value()}
    if job.is_failed:
        reason = (job.latest_result().exc_string or "").strip().splitlines()
        return {"state": "failed", "detail": reason[-1] if reason else "failed"}
    return {"state": job.get_status().value, "detail": "reload to see the outcome"}


PAGE_SIZE = 50


def newest_page(query, model) -> tuple[list, int | None]:
    """One page of rows, newest first, after ?before=<id>, and the id that asks for the next page (or None).

    Paging by id needs no COUNT and no OFFSET, so a page costs the same at row 1,000,000 as at row 1.
    """
    before = request.args.get("before", type=int)
    if before:
        query = query.where(model.id < before)
    rows = list(db.session.scalars(query.order_by(model.id.desc()).limit(PAGE_SIZE + 1)).unique())
    return rows[:PAGE_SIZE], rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None


@bp.get("/notifications")
@require(Role.VIEWER)
def notifications():
    """Newest first, filtered as the URL says (so a view can be bookmarked), a page at a time by id."""
    args = request.args
    filters = {name: args.get(name, "").strip() for name in NOTIFICATION_FILTERS}
    rows, next_before = newest_page(filtered(select(Notification).options(joinedload(Notification.recipient)),
                                             filters), Notification)
    return render_template("dashboard/notifications.html", rows=rows, filters=filters,
                           active_filters={name: value for name, value in filters.items() if value},
                           statuses=[member.value for member in NotificationStatus],
                           kinds=[member.value for member in NotificationType], channels=KNOWN_CHANNELS,
                           next_before=next_before)


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
        people = select(Recipient.id).where(Recipient.name.ilike(pattern) | Recipient.email.ilike(pattern)
                                            | Recipient.phone.ilike(pattern) | Recipient.external_id.ilike(pattern))
        query = query.where(Notification.recipient_id.in_(people))
    if filters["booking"]:
        query = query.where(Notification.booking_id.in_(
            select(Booking.id).where(Booking.external_id == filters["booking"])))
    if filters["from"]:
        query = query.where(Notification.scheduled_at >= parse_day(filters["from"]))
    if filters["to"]:
        query = query.where(Notification.scheduled_at < parse_day(filters["to"]))
    if filters["error"]:
        query = query.where(Notification.last_error.ilike(f"%{filters['error']}%"))
    return query


@bp.get("/notifications/<int:notification_id>")
@require(Role.VIEWER)
def notification(notification_id: int):
    """One message: who, which booking, what it said, every attempt, and why it is in its state."""
    row = db.session.get(Notification, notification_id)
    if row is None:
        abort(404)
    attempts = sorted(row.attempt_log, key=lambda attempt: attempt.number)
    return render_template("dashboard/notification.html", row=row, attempts=attempts, form=FlaskForm(),
                           can_act=current_user.can(Role.OPERATOR), retryable=row.status in transitions.RETRYABLE,
                           cancellable=row.status in transitions.OPEN, outcome=request.args.get("outcome"))


@bp.post("/notifications/<int:notification_id>/<any(retry, cancel):action>")
@require(Role.OPERATOR)
def act_on_notification(notification_id: int, action: str):
    """Retry or cancel one notification through the same compare-and-set as the workers, so they race safely."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    now, who = utcnow(), current_user.email
    if action == "retry":
        moved = transitions.retry_now([notification_id], now, f"retried by {who}")
    else:
        moved = transitions.cancel_now([notification_id], now, f"cancelled by {who}")
    staff.audit(action, target=f"notification {notification_id}", rows=len(moved))
    db.session.commit()
    if moved and action == "retry":
        queueing.arm_wakeups([now])
    outcome = "done" if moved else "nothing to do: its status had already changed"
    return redirect(url_for("dashboard.notification", notification_id=notification_id, outcome=outcome))


@bp.get("/events")
@require(Role.VIEWER)
def events():
    """Inbound events, newest first, optionally one source or type, paged by id."""
    query = select(InboundEvent)
    source, kind = request.args.get("source") or None, request.args.get("type") or None
    if source:
        query = query.where(InboundEvent.source == source)
    if kind:
        query = query.where(InboundEvent.event_type == kind)
    rows, next_before = newest_page(query, InboundEvent)
    return render_template("dashboard/events.html", rows=rows, source=source, kind=kind,
                           sources=[member.value for member in EventSource], form=FlaskForm(),
                           can_replay=current_user.can(Role.ADMIN), outcome=request.args.get("outcome"),
                           next_before=next_before)


@bp.post("/events/<int:event_row_id>/replay")
@require(Role.ADMIN)
def replay(event_row_id: int):
    """Run a stored event through ingest again, under a new id: only what it calls for and is missing is added."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    original = db.session.get(InboundEvent, event_row_id)
    if original is None:
        abort(404)
    copies = db.session.scalar(select(func.count()).select_from(InboundEvent)
                               .where(InboundEvent.event_id.like(f"{original.event_id}:replay:%")))
    replay_id = f"{original.event_id}:replay:{copies + 1}"
    result = ingest(original.payload, replay_id, original.source, replay_of=original.event_id.split(":replay:")[0])
    staff.audit("replay", target=f"event {original.event_id} as {replay_id}", rows=1,
                detail=f"{result.outcome.value if result.outcome else 'duplicate'}: {result.detail or ''}")
    db.session.commit()
    summary = f"replayed as {replay_id}: {result.outcome.value if result.outcome else 'duplicate'}"
    return redirect(url_for("dashboard.events", outcome=summary))


@bp.get("/audit")
@require(Role.ADMIN)
def audit():
    """The audit log, newest first, optionally one action or actor."""
    query = select(AuditEntry)
    action, actor = request.args.get("action") or None, request.args.get("actor") or None
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor == actor.strip().lower())
    rows, next_before = newest_page(query, AuditEntry)
    return render_template("dashboard/audit.html", rows=rows, action=action, actor=actor, next_before=next_before)


@bp.get("/bookings")
@require(Role.VIEWER)
def bookings():
    """Bookings, newest first, filtered by status, start date range, service and party."""
    query = select(Booking).options(joinedload(Booking.client), joinedload(Booking.expert))
    args = request.args
    if args.get("status"):
        query = query.where(Booking.status == args["status"])
    for name, compare in (("from", Booking.starts_at.__ge__), ("to", Booking.starts_at.__lt__)):
        if args.get(name):
            query = query.where(compare(parse_day(args[name])))
    if args.get("service"):
        query = query.where(Booking.service_name.ilike(f"%{args['service']}%"))
    if args.get("person"):
        pattern = f"%{args['person']}%"
        people = select(Recipient.id).where(Recipient.external_id.ilike(pattern) | Recipient.name.ilike(pattern))
        query = query.where(Booking.client_id.in_(people) | Booking.expert_id.in_(people))
    rows, next_before = newest_page(query, Booking)
    filters = {name: args.get(name, "") for name in ("status", "from", "to", "service", "person")}
    return render_template("dashboard/bookings.html", rows=rows, filters=filters,
                           statuses=[member.value for member in BookingStatus], next_before=next_before)


def parse_day(value: str) -> datetime:
    """A YYYY-MM-DD filter value as the start of that UTC day; a 400 names a malformed one."""
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        abort(400, description=f"dates look like 2026-12-24, got {value!r}")


@bp.get("/bookings/<external_id>")
@require(Role.VIEWER)
def booking(external_id: str):
    """A booking's timeline: all its notifications in planned order, in each recipient's zone and in UTC."""
    row = db.session.scalar(select(Booking).filter_by(external_id=external_id))
    if row is None:
        abort(404)
    messages = list(db.session.scalars(select(Notification).options(joinedload(Notification.recipient))
                                       .where(Notification.booking_id == row.id)
                                       .order_by(Notification.scheduled_at, Notification.id)))
    return render_template("dashboard/booking.html", booking=row, messages=messages, form=FlaskForm(),
                           can_act=current_user.can(Role.OPERATOR), zone=zone,
                           kinds=sorted({message.type.value for message in messages}),
                           outcome=request.args.get("outcome"))


@bp.post("/bookings/<external_id>/cancel-pending")
@require(Role.OPERATOR)
def cancel_pending(external_id: str):
    """Cancel every message of the booking not yet being sent."""
    row = booking_or_404(external_id)
    ids = list(db.session.scalars(select(Notification.id).where(Notification.booking_id == row.id,
                                                                Notification.status.in_(transitions.OPEN))))
    moved = transitions.cancel_now(ids, utcnow(), f"cancelled by {current_user.email}")
    staff.audit("cancel", target=f"booking {external_id}: all pending", rows=len(moved))
    db.session.commit()
    return redirect(url_for("dashboard.booking", external_id=external_id, outcome=f"{len(moved)} cancelled"))


@bp.post("/bookings/<external_id>/resend")
@require(Role.OPERATOR)
def resend(external_id: str):
    """Send a type of message of this booking again, now, on the channels it went out on."""
    row = booking_or_404(external_id)
    kind = request.form.get("type", "")
    if kind not in {member.value for member in NotificationType}:
        abort(400, description=f"unknown message type {kind!r}")
    ids = list(db.session.scalars(select(Notification.id).where(Notification.booking_id == row.id,
                                                                Notification.type == kind)))
    now = utcnow()
    moved = transitions.resend_now(ids, now, f"resent by {current_user.email}")
    staff.audit("resend", target=f"booking {external_id}: {kind}", rows=len(moved))
    db.session.commit()
    if moved:
        queueing.arm_wakeups([now])
    return redirect(url_for("dashboard.booking", external_id=external_id, outcome=f"{len(moved)} {kind} resent"))


def booking_or_404(external_id: str) -> Booking:
    """The booking an action names, after checking the form's CSRF token."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    row = db.session.scalar(select(Booking).filter_by(external_id=external_id))
    if row is None:
        abort(404)
    return row
