"""The figures on the dashboard's overview page: each one query, bounded to its time window."""

from datetime import datetime, timedelta, timezone

from rq import Worker
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Notification, NotificationStatus
from webapp.plumbing import heartbeats, queueing

S = NotificationStatus
LATENESS_SAMPLE = 10_000  # enough for p95; bounds the work on a busy hour


def counts_since(since: datetime) -> dict[str, int]:
    """Notifications created since a moment, by status."""
    rows = db.session.execute(
        select(Notification.status, func.count()).where(Notification.created_at >= since).group_by(Notification.status)
    )
    return {status.value: count for status, count in rows}


def failure_rate(counts: dict[str, int]) -> float | None:
    """Failed among those that finished sending (sent or failed); None when none did."""
    finished = counts.get("sent", 0) + counts.get("failed", 0)
    return counts.get("failed", 0) / finished if finished else None


def delivered_rates(since: datetime) -> dict[str, dict]:
    """Per channel, of the messages sent since a moment: how many had a report, and the share delivered."""
    rows = db.session.execute(
        select(Notification.channel, Notification.delivery_state, func.count())
        .where(Notification.status == S.SENT, Notification.sent_at >= since)
        .group_by(Notification.channel, Notification.delivery_state)
    )
    rates: dict[str, dict] = {}
    for channel, state, count in rows:
        figures = rates.setdefault(channel, {"sent": 0, "delivered": 0, "undelivered": 0})
        figures["sent"] += count
        if state in ("delivered", "undelivered"):
            figures[state] += count
    for figures in rates.values():
        reported = figures["delivered"] + figures["undelivered"]
        figures["rate"] = figures["delivered"] / reported if reported else None
    return dict(sorted(rates.items()))


def due_within(now: datetime, window: timedelta) -> int:
    """Pending notifications falling due in the window."""
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.status == S.PENDING, Notification.due_at >= now, Notification.due_at < now + window)
    )


def lateness(now: datetime, window: timedelta) -> dict[str, float | None]:
    """p50 and p95 of sent_at − scheduled_at, in seconds, for messages sent in the window."""
    pairs = db.session.execute(
        select(Notification.sent_at, Notification.scheduled_at)
        .where(Notification.status == S.SENT, Notification.sent_at >= now - window)
        .limit(LATENESS_SAMPLE)
    ).all()
    late = sorted((sent - scheduled).total_seconds() for sent, scheduled in pairs)
    if not late:
        return {"p50": None, "p95": None, "count": 0}
    return {"p50": percentile(late, 0.50), "p95": percentile(late, 0.95), "count": len(late)}


def percentile(ordered: list[float], share: float) -> float:
    """The value below which share of the sorted values fall (nearest rank)."""
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def queue_state() -> dict:
    """Jobs waiting in RQ, workers alive, and the youngest heartbeat of each kind; None when Redis does not answer."""
    try:
        connection = queueing.redis_connection()
        return {
            "queued": queueing.queue().count,
            "workers": len(Worker.all(connection=connection)),
            "heartbeats": {kind: youngest(connection, kind) for kind in ("scheduler", "worker", "consumer")},
        }
    except Exception:  # the overview must render even while Redis is down, and say so
        return {"queued": None, "workers": None, "heartbeats": {}}


def youngest(connection, kind: str) -> float | None:
    """Seconds since any process of a kind last beat, or None when none ever did."""
    ages = heartbeats.ages(connection, kind)
    return round(min(ages.values()), 1) if ages else None


def hourly(now: datetime, hours: int = 48) -> list[dict]:
    """Sent and failed per hour for the last hours, oldest first (failed counted at their last update)."""
    start = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
    sent = per_hour(Notification.sent_at, S.SENT, start)
    failed = per_hour(Notification.updated_at, S.FAILED, start)
    slots = [start + timedelta(hours=n) for n in range(hours)]
    return [{"hour": slot, "sent": sent.get(slot, 0), "failed": failed.get(slot, 0)} for slot in slots]


def per_hour(column, status: NotificationStatus, start: datetime) -> dict[datetime, int]:
    """How many rows in this status fall in each UTC hour from start, counted by the database."""
    hour = utc_hour(column)
    rows = db.session.execute(
        select(hour, func.count()).where(Notification.status == status, column >= start).group_by(hour)
    )
    return {as_utc(value): count for value, count in rows}


def utc_hour(column):
    """The UTC hour a timestamp falls in, as the database computes it."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))  # UTC whatever the session's time zone
    return func.strftime("%Y-%m-%d %H:00:00", column)  # SQLite keeps UTC as text


def as_utc(value: datetime | str) -> datetime:
    """A naive UTC hour from either database, as an aware datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=timezone.utc)
