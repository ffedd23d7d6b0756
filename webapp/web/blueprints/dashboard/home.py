"""The overview page: counts, failure rate, what is due, lateness, the queue, 48 hours of sends."""

from datetime import timedelta

from flask import render_template
from redis.exceptions import RedisError

from webapp.domain.staff import overview
from webapp.models import NotificationStatus, Role
from webapp.models.types import utcnow
from webapp.plumbing import queueing
from webapp.web.blueprints.auth import require
from webapp.web.blueprints.dashboard.blueprint import bp

# Every open overview polls once a second; they share one computation a second instead of each running it.
FIGURES_KEY, FIGURES_TTL_MS = "bellhop:dashboard:overview", 900


@bp.get("/")
@require(Role.VIEWER)
def home():
    """The overview: counts, failure rate, what is due, lateness, the queue, and 48 hours of sends."""
    return render_template("dashboard/home.html", figures=figures_html())


@bp.get("/live/overview")
@require(Role.VIEWER)
def live_overview():
    """The overview's figures alone, for the page to swap in while it is open."""
    return figures_html()


def figures_html() -> str:
    """The rendered figures, from the shared cache when another dashboard made them within the second."""
    redis = queueing.redis_connection()
    try:
        cached = redis.get(FIGURES_KEY)
    except RedisError:
        cached = None
    if cached is not None:
        return cached.decode()
    html = render_figures()
    try:
        redis.set(FIGURES_KEY, html, px=FIGURES_TTL_MS)
    except RedisError:
        pass  # the page still works; the queue figure already says Redis is down
    return html


def render_figures() -> str:
    """Query and render every figure on the overview."""
    now = utcnow()
    day, week = overview.counts_since(now - timedelta(hours=24)), overview.counts_since(now - timedelta(days=7))
    hours = overview.hourly(now)
    return render_template(
        "dashboard/_overview.html",
        day=day,
        week=week,
        statuses=[s.value for s in NotificationStatus],
        failure_rate=overview.failure_rate(day),
        delivered=overview.delivered_rates(now - timedelta(hours=24)),
        due=overview.due_within(now, timedelta(hours=1)),
        lateness=overview.lateness(now, timedelta(hours=1)),
        queue=overview.queue_state(),
        hours=hours,
        peak=max([1] + [slot["sent"] + slot["failed"] for slot in hours]),
        computed_at=now,
    )
