"""Inbound events, and the admin replay of one."""

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from webapp.domain.planning import planner
from webapp.domain.staff import actions
from webapp.extensions import db
from webapp.models import EventOutcome, EventSource, InboundEvent, Role
from webapp.web.blueprints.auth import require
from webapp.web.blueprints.dashboard.blueprint import bp
from webapp.web.blueprints.dashboard.paging import newest_page
from webapp.web.query_args import choice


@bp.get("/events")
@require(Role.VIEWER)
def events():
    """Inbound events, newest first, optionally one source, type or state, paged by id; and the planning lag."""
    query = select(InboundEvent)
    source, kind, state = choice("source", EventSource), request.args.get("type") or None, planning_state()
    if source:
        query = query.where(InboundEvent.source == source)
    if kind:
        query = query.where(InboundEvent.event_type == kind)
    if state:
        query = query.where(InboundEvent.outcome.is_(None) if state == WAITING else InboundEvent.outcome == state)
    rows, next_before = newest_page(query, InboundEvent)
    waiting, lag_seconds = planner.lag()
    return render_template(
        "dashboard/events.html",
        rows=rows,
        source=source,
        kind=kind,
        state=state,
        states=STATES,
        waiting=waiting,
        lag_seconds=lag_seconds,
        sources=[member.value for member in EventSource],
        form=FlaskForm(),
        can_replay=current_user.can(Role.ADMIN),
        outcome=request.args.get("outcome"),
        next_before=next_before,
    )


WAITING = "waiting"
STATES = [WAITING, *(member.value for member in EventOutcome)]


def planning_state() -> str | None:
    """The state query parameter: waiting, or one of the planner's outcomes; a 400 listing them otherwise."""
    value = request.args.get("state") or None
    if value is not None and value not in STATES:
        abort(400, description=f"state: must be one of {', '.join(STATES)}")
    return value


@bp.post("/events/<id:event_row_id>/replay")
@require(Role.ADMIN)
def replay(event_row_id: int):
    """Put a stored event in the inbox again, under a new id: only what it calls for and is missing is added."""
    summary = actions.replay(db.get_or_404(InboundEvent, event_row_id))
    return redirect(url_for("dashboard.events", outcome=summary))
