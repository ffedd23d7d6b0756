"""People: search by name, email, phone or platform id; a person's page; lifting a suppression."""

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from webapp.domain.after_sending import suppressions
from webapp.domain.people import recipients
from webapp.domain.staff import actions
from webapp.extensions import db
from webapp.models import Notification, Preference, Recipient, Role, Suppression
from webapp.web.blueprints.auth import require
from webapp.web.blueprints.dashboard.blueprint import bp
from webapp.web.blueprints.dashboard.paging import PAGE_SIZE, scheduled_page

LONGEST_SEARCH = 200


@bp.get("/people")
@require(Role.VIEWER)
def people():
    """People whose name, email, phone or platform id contains the search text."""
    text = request.args.get("q", "").strip()
    if len(text) > LONGEST_SEARCH:
        abort(400, description=f"q: at most {LONGEST_SEARCH} characters")
    found = []
    if text:
        query = select(Recipient).where(recipients.matching(text))
        found = list(db.session.scalars(query.order_by(Recipient.name, Recipient.id).limit(PAGE_SIZE)))
    return render_template("dashboard/people.html", text=text, found=found, more=len(found) == PAGE_SIZE)


@bp.get("/people/<external_id>")
@require(Role.VIEWER)
def person(external_id: str):
    """One person: contacts, zone, language, quiet hours, preferences, suppressions, every notification."""
    row = db.first_or_404(select(Recipient).filter_by(external_id=external_id))
    query = select(Notification).where(Notification.recipient_id == row.id)
    messages, next_before = scheduled_page(query, Notification, Notification.scheduled_at, descending=True)
    wishes = db.session.scalars(
        select(Preference).where(Preference.recipient_id == row.id).order_by(Preference.updated_at.desc())
    )
    return render_template(
        "dashboard/person.html",
        person=row,
        messages=messages,
        next_before=next_before,
        preferences=list(wishes),
        suppressions=suppressions.of_recipient(row),
        form=FlaskForm(),
        can_act=current_user.can(Role.OPERATOR),
        outcome=request.args.get("outcome"),
    )


@bp.post("/people/<external_id>/suppressions/<id:suppression_id>/lift")
@require(Role.OPERATOR)
def lift_suppression(external_id: str, suppression_id: int):
    """Take an address off the suppression list, with a reason; audited."""
    row = db.first_or_404(select(Recipient).filter_by(external_id=external_id))
    listed = db.session.get(Suppression, suppression_id)
    if listed is None or listed not in suppressions.of_recipient(row):
        abort(404)
    reason = request.form.get("reason", "").strip()
    if not reason or len(reason) > 500:
        abort(400, description="reason: say why the address may be used again (at most 500 characters)")
    actions.lift_suppression(listed, external_id, reason)
    return redirect(url_for("dashboard.person", external_id=external_id, outcome=f"{listed.address} may be used again"))
