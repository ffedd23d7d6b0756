"""Live status: an open page asks each second which of its rows changed, and gets only those."""

from datetime import datetime, timedelta

from flask import abort, jsonify, request
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Notification, Role
from webapp.models.types import utcnow
from webapp.web.blueprints.auth import require
from webapp.web.blueprints.dashboard.blueprint import bp
from webapp.web.query_args import row_ids

MAX_IDS = 200
# Rows are stamped by each worker's clock; looking this far behind the cursor covers clocks a little apart.
CLOCK_SLACK = timedelta(seconds=5)


@bp.get("/live/notifications")
@require(Role.VIEWER)
def live_notifications():
    """The rows among ?ids= changed since ?since=, and the cursor for the next ask."""
    ids = parse_ids(request.args.get("ids", ""))
    since = parse_since(request.args.get("since", ""))
    now = utcnow()
    rows = db.session.scalars(
        select(Notification).where(Notification.id.in_(ids), Notification.updated_at >= since - CLOCK_SLACK)
    )
    return jsonify(since=now.isoformat(), rows=[row_state(row) for row in rows])


def row_state(row: Notification) -> dict:
    """What the page shows of a row, formatted as the page formats it."""
    return {
        "id": row.id,
        "status": row.status.value,
        "attempts": row.attempts,
        "sent_at": row.sent_at.strftime("%Y-%m-%d %H:%M:%S") if row.sent_at else "",
        "last_error": row.note,
    }


def parse_ids(value: str) -> list[int]:
    """Comma-separated row ids; a 400 names a malformed list."""
    return row_ids([part for part in value.split(",") if part], "ids", MAX_IDS)


def parse_since(value: str) -> datetime:
    """The cursor the last answer gave: an ISO time with its offset."""
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        abort(400, description="since: the ISO time the last answer gave")
    if since.tzinfo is None:
        abort(400, description="since: needs its UTC offset")
    if not 1970 <= since.year <= 9998:  # the answer's cursor is now; far off, the clock-slack arithmetic overflows
        abort(400, description="since: the ISO time the last answer gave")
    return since
