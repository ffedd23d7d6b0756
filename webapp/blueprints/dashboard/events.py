"""Inbound events, and the admin replay of one."""

from flask import redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from webapp.blueprints.auth import require
from webapp.blueprints.dashboard import bp
from webapp.blueprints.dashboard.paging import newest_page
from webapp.domain import staff_actions
from webapp.extensions import db
from webapp.models import EventSource, InboundEvent, Role
from webapp.query_args import choice


@bp.get("/events")
@require(Role.VIEWER)
def events():
    """Inbound events, newest first, optionally one source or type, paged by id."""
    query = select(InboundEvent)
    source, kind = choice("source", EventSource), request.args.get("type") or None
    if source:
        query = query.where(InboundEvent.source == source)
    if kind:
        query = query.where(InboundEvent.event_type == kind)
    rows, next_before = newest_page(query, InboundEvent)
    return render_template(
        "dashboard/events.html",
        rows=rows,
        source=source,
        kind=kind,
        sources=[member.value for member in EventSource],
        form=FlaskForm(),
        can_replay=current_user.can(Role.ADMIN),
        outcome=request.args.get("outcome"),
        next_before=next_before,
    )


@bp.post("/events/<id:event_row_id>/replay")
@require(Role.ADMIN)
def replay(event_row_id: int):
    """Run a stored event through ingest again, under a new id: only what it calls for and is missing is added."""
    summary = staff_actions.replay(db.get_or_404(InboundEvent, event_row_id))
    return redirect(url_for("dashboard.events", outcome=summary))
