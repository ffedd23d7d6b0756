"""The audit log page (admins only)."""

from flask import render_template, request
from sqlalchemy import select

from webapp.models import AuditEntry, Role
from webapp.web.blueprints.auth import require
from webapp.web.blueprints.dashboard.blueprint import bp
from webapp.web.blueprints.dashboard.paging import newest_page


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
