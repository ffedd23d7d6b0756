"""The overview page: counts, failure rate, what is due, lateness, the queue, 48 hours of sends."""

from datetime import timedelta

from flask import render_template

from webapp.blueprints.auth import require
from webapp.blueprints.dashboard import bp
from webapp.domain import overview
from webapp.models import NotificationStatus, Role
from webapp.models.types import utcnow


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
