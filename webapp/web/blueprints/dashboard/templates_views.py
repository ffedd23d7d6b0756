"""Template previews and operator test sends."""

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webapp.domain.sending.templates import checks
from webapp.domain.sending.templates.rendering import RenderError
from webapp.domain.staff import actions
from webapp.extensions import db
from webapp.models import Booking, NotificationType, Role
from webapp.models.contact_fields import CONTACT_FOR_CHANNEL, KNOWN_CHANNELS
from webapp.plumbing import queueing
from webapp.web.blueprints.auth import require
from webapp.web.blueprints.dashboard.blueprint import bp

# Test sends go to an address the operator types. Not the webhook channel: a URL an operator types is not a
# recipient's, and posting to it would make the dashboard a way to reach other hosts.
TESTABLE = ("log", "email", "sms", "telegram")


class SendTestForm(FlaskForm):
    address = StringField("Send to", validators=[DataRequired(), Length(max=320)])


@bp.get("/templates")
@require(Role.VIEWER)
def templates():
    """Every type, channel and language, each linking to its preview."""
    return render_template(
        "dashboard/templates.html",
        kinds=list(NotificationType),
        channels=KNOWN_CHANNELS,
        locales=checks.shipped_locales(),
    )


def template_or_404(locale: str, kind: str, channel: str) -> NotificationType:
    """The type a preview URL names, or a 404 for an unknown language, type or channel."""
    if locale not in checks.shipped_locales() or channel not in KNOWN_CHANNELS:
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
        facts = checks.preview(kind_enum, channel, locale, booking, "expert" if party == "expert" else "client")
    except RenderError as error:
        facts, problem = None, str(error)
    can_send = channel in TESTABLE and current_user.can(Role.OPERATOR)
    return render_template(
        "dashboard/preview.html",
        kind=kind,
        channel=channel,
        locale=locale,
        facts=facts,
        problem=problem,
        booking_id=booking_id if booking else "",
        party=party,
        form=SendTestForm() if can_send else None,
        test=test_status(request.args.get("test")),
        contact_field=CONTACT_FOR_CHANNEL.get(channel, "name").replace("_", " "),
    )


@bp.post("/templates/<locale>/<kind>/<channel>/send-test")
@require(Role.OPERATOR)
def send_test(locale: str, kind: str, channel: str):
    """Queue a test send of this template to an address the operator gives; the audit log keeps it."""
    template_or_404(locale, kind, channel)
    form = SendTestForm()
    if channel not in TESTABLE:
        abort(400, description=f"channel: test sends go over {', '.join(TESTABLE)}, not {channel}")
    if not form.validate_on_submit():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        abort(400, description=problems)
    booking_id, party = request.form.get("booking") or None, request.form.get("for", "client")
    job_id = actions.send_test(kind, channel, locale, booking_id, party, form.address.data.strip())
    return redirect(
        url_for(
            "dashboard.preview",
            locale=locale,
            kind=kind,
            channel=channel,
            test=job_id,
            booking=booking_id or "",
            **{"for": party},
        )
    )


def test_status(job_id: str | None) -> dict | None:
    """What became of the signed-in operator's test send: queued, sent with the provider's answer, or failed."""
    if not job_id:
        return None
    job = own_test_send(job_id)
    if job is None:
        return {"state": "unknown", "detail": "no such test send of yours (results are kept for an hour)"}
    if job.is_finished:
        return {"state": "sent", "detail": job.return_value()}
    if job.is_failed:
        reason = (job.latest_result().exc_string or "").strip().splitlines()
        return {"state": "failed", "detail": reason[-1] if reason else "failed"}
    return {"state": job.get_status().value, "detail": "reload to see the outcome"}


def own_test_send(job_id: str) -> Job | None:
    """The test-send job with this id if the signed-in staff member started it; any other job stays hidden."""
    try:
        job = Job.fetch(job_id, connection=queueing.redis_connection())
    except (NoSuchJobError, ValueError):  # RQ refuses an id it could never have made with a ValueError
        return None
    mine = job.func_name == actions.SEND_TEST_JOB and job.meta.get("started_by") == current_user.id
    return job if mine else None
