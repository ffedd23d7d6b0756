"""Redis memory per pending reminder: Bellhop's wake-ups against one rq-scheduler job per reminder."""

from datetime import datetime, timedelta, timezone

from rq_scheduler import Scheduler
from sqlalchemy import insert

from tests.support.stack import Stack
from webapp.domain.planning.rules import reminder_times as planned_times
from webapp.extensions import db
from webapp.models import Booking, Notification, Recipient
from webapp.plumbing import queueing


def reminder_times(count: int, days: int = 30) -> list[datetime]:
    """Due times of count reminders for bookings at :00 and :30 over the next days (2 parties each)."""
    first = (datetime.now(timezone.utc) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    slots = days * 48
    times = []
    while len(times) < count:
        start = first + timedelta(minutes=30 * (len(times) // 8 % slots))
        booking = Booking(starts_at=start, ends_at=start + timedelta(hours=1))
        for due in planned_times(booking).values():  # the planning rules themselves
            times.extend([due] * 2)  # client and expert
    return times[:count]


def used_memory(stack: Stack) -> int:
    with stack.app.app_context():
        return queueing.redis_connection().info("memory")["used_memory"]


def bellhop_memory(stack: Stack, count: int) -> dict:
    """Insert count pending reminders and arm their wake-ups as ingest does; bytes of Redis per reminder."""
    stack.reset()
    times = reminder_times(count)
    before = used_memory(stack)
    with stack.app.app_context():
        person = db.session.execute(
            insert(Recipient).values(external_id="p", timezone="UTC", locale="en").returning(Recipient.id)
        ).scalar_one()
        for chunk in range(0, count, 20000):
            rows = [
                {
                    "recipient_id": person,
                    "type": "booking_start",
                    "channel": "webhook",
                    "status": "pending",
                    "scheduled_at": due,
                    "due_at": due,
                    "attempts": 0,
                    "dedupe_key": f"m{chunk + n}",
                }
                for n, due in enumerate(times[chunk : chunk + 20000])
            ]
            db.session.execute(insert(Notification), rows)
            db.session.commit()
            queueing.arm_wakeups(times[chunk : chunk + 20000])
    used = used_memory(stack) - before
    return {
        "count": count,
        "bytes": used,
        "per_reminder": used / count,
        "wakeups": len({int(due.timestamp()) for due in times}),
    }


def naive_memory(stack: Stack, count: int) -> dict:
    """One rq-scheduler job per reminder, as the naive design keeps them; bytes per job."""
    stack.reset()
    times = reminder_times(count)
    before = used_memory(stack)
    with stack.app.app_context():
        clock = Scheduler(queue_name=stack.app.config["RQ_QUEUE"], connection=queueing.redis_connection())
        for notification_id, due in enumerate(times):
            clock.enqueue_at(due, "workers.jobs.deliver", [notification_id], "webhook")
    used = used_memory(stack) - before
    return {"count": count, "bytes": used, "per_reminder": used / count}
