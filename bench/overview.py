"""The overview's hourly chart at a busy day's volume: counted by the database, against counting in Python.

The baseline is how the chart was counted before: every sent row's timestamp of the last 48 hours read
into the web worker and grouped there, once a second for the dashboards' live overview.
"""

import statistics
import time
import tracemalloc
from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update

from tests.support.stack import Stack, seed_reminders
from webapp.domain.staff import overview
from webapp.extensions import db
from webapp.models import Notification
from webapp.models.types import utcnow


def python_grouped(now, hours: int = 48) -> list[dict]:
    """The baseline: each sent row's hour computed in Python."""
    start = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    moments = db.session.execute(
        select(Notification.sent_at).where(Notification.status == "sent", Notification.sent_at >= start)
    )
    sent = Counter(moment.replace(minute=0, second=0, microsecond=0) for (moment,) in moments)
    return [{"hour": start + timedelta(hours=n), "sent": sent.get(start + timedelta(hours=n), 0)} for n in range(hours)]


def timed(count_hours, repeat: int) -> dict:
    """Median milliseconds of repeat calls, and the peak Python memory of one."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        count_hours(utcnow())
        times.append((time.perf_counter() - began) * 1000)
        db.session.rollback()
    tracemalloc.start()
    count_hours(utcnow())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    db.session.rollback()
    return {"median_ms": statistics.median(times), "peak_kib": peak / 1024}


def hourly_chart(stack: Stack, count: int, repeat: int) -> dict:
    """Seed count messages sent over the last 48 hours; time both ways of counting them per hour."""
    stack.reset()
    now = utcnow()
    due = [now - timedelta(hours=47) + timedelta(hours=47) * n / count for n in range(count)]
    seed_reminders(stack.app, stack.receiver_url, due, status="sent")
    with stack.app.app_context():
        db.session.execute(update(Notification).values(sent_at=Notification.due_at))
        db.session.commit()
        ours = [slot["sent"] for slot in overview.hourly(utcnow())]
        theirs = [slot["sent"] for slot in python_grouped(utcnow())]
        assert ours == theirs and sum(ours) == count, "the two counts differ"
        return {"count": count, "database": timed(overview.hourly, repeat), "python": timed(python_grouped, repeat)}
