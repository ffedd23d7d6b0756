"""Retry or cancel many notifications: the rows an operator ticked, or every row matching the list's filter."""

from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import abort, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select

from webapp.domain.staff import actions
from webapp.domain.staff.actions import ELIGIBLE
from webapp.extensions import db
from webapp.models import Notification, Role
from webapp.web.blueprints.auth import require
from webapp.web.blueprints.dashboard.blueprint import bp
from webapp.web.blueprints.dashboard.filters import filtered, notification_filters
from webapp.web.query_args import row_ids

# One action moves at most this many rows; past it the operator narrows the filter first.
BULK_CAP = 10_000
BULK_ACTIONS = ("retry", "cancel")
ACTION = "<any(retry, cancel):action>"


@bp.post("/notifications/selected")
@require(Role.OPERATOR)
def act_on_selected():
    """Retry or cancel the ticked rows; rows whose status moved on meanwhile are left alone."""
    action = request.form.get("action", "")
    if action not in BULK_ACTIONS:
        abort(400, description="action: retry or cancel")
    ids = row_ids(request.form.getlist("id"), "id", BULK_CAP)
    listed = f"ids {', '.join(map(str, ids[:50]))}{' …' if len(ids) > 50 else ''}"
    moved = actions.act(action, ids, target=f"{len(ids)} selected notifications", detail=listed)
    return redirect(back_to_list(f"{action}: {moved} of {len(ids)} selected rows changed"))


@bp.get(f"/notifications/matching/{ACTION}")
@require(Role.OPERATOR)
def confirm_matching(action: str):
    """Show how many rows the filter matches and the action would change, before anything changes."""
    filters = notification_filters(request.args)
    count = len(matching_ids(action, filters))
    return render_template(
        "dashboard/confirm_bulk.html",
        action=action,
        count=count,
        cap=BULK_CAP,
        filters={name: value for name, value in filters.items() if value},
        form=FlaskForm(),
    )


@bp.post(f"/notifications/matching/{ACTION}")
@require(Role.OPERATOR)
def act_on_matching(action: str):
    """Retry or cancel every row the filter matches, up to the cap; the count is checked again here."""
    filters = notification_filters(request.form)
    ids = matching_ids(action, filters)
    if len(ids) > BULK_CAP:
        abort(400, description=f"the filter matches more than {BULK_CAP} rows; narrow it first")
    described = ", ".join(f"{name}={value}" for name, value in filters.items() if value) or "no filter"
    confirmed = f"{len(ids)} matched when confirmed as {request.form.get('expected', '?')}"
    moved = actions.act(action, ids, target=f"all matching: {described}", detail=confirmed)
    active = {name: value for name, value in filters.items() if value}
    return redirect(url_for("dashboard.notifications", outcome=f"{action}: {moved} rows changed", **active))


def matching_ids(action: str, filters: dict[str, str]) -> list[int]:
    """Ids of rows the filter matches that the action can change, one past the cap at most."""
    query = filtered(select(Notification.id), filters).where(Notification.status.in_(ELIGIBLE[action]))
    return list(db.session.scalars(query.order_by(Notification.id).limit(BULK_CAP + 1)))


def back_to_list(outcome: str) -> str:
    """The list view the form came from (only ever the dashboard's list), with the outcome to show."""
    back = urlsplit(request.form.get("back", ""))
    if back.netloc or back.path != url_for("dashboard.notifications"):
        return url_for("dashboard.notifications", outcome=outcome)
    query = [(name, value) for name, value in parse_qsl(back.query) if name != "outcome"]
    return f"{back.path}?{urlencode(query + [('outcome', outcome)])}"
