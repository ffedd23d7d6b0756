"""Is Bellhop able to send reminders on time right now? Each part answers for itself."""

import time
from dataclasses import asdict, dataclass
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from webapp.domain.planning import planner
from webapp.extensions import db
from webapp.models import DeliveryReport, Notification, NotificationStatus
from webapp.models.types import utcnow
from webapp.plumbing import heartbeats, queueing

OPEN = (NotificationStatus.PENDING, NotificationStatus.QUEUED)


@dataclass
class Check:
    """One part of readiness: whether it is fine, and what an operator needs to know either way."""

    ok: bool
    detail: str
    age_seconds: float | None = None


def checks() -> dict[str, Check]:
    """Every part readiness depends on, by name; the consumer only when a broker is configured."""
    found = {"database": database(), "redis": redis()}
    if found["redis"].ok:
        found["scheduler"] = freshest("scheduler", "scheduler")
        found["workers"] = freshest("worker", "worker")
        if current_app.config["AMQP_URL"]:
            found["consumer"] = freshest("consumer", "consumer")
    if found["database"].ok:
        found["overdue"] = overdue()
        found["planning"] = planning()
    return found


def report() -> tuple[bool, dict]:
    """Whether every part is fine, and the parts as JSON-ready dicts."""
    found = checks()
    return all(check.ok for check in found.values()), {name: asdict(check) for name, check in found.items()}


def database() -> Check:
    """The database answers a trivial query."""
    try:
        db.session.execute(text("SELECT 1"))
        return Check(True, "answers")
    except SQLAlchemyError as error:
        db.session.rollback()
        return Check(False, f"does not answer: {type(error.orig or error).__name__}")


def redis() -> Check:
    """Redis answers and will not evict wake-ups or jobs."""
    try:
        # INFO, not CONFIG GET: managed Redis services (Heroku's among them) refuse CONFIG to their clients.
        policy = queueing.redis_connection().info("memory").get("maxmemory_policy")
    except RedisError as error:
        return Check(False, f"does not answer: {type(error).__name__}")
    if policy != "noeviction":
        return Check(False, f"maxmemory-policy is {policy!r}; it must be 'noeviction'")
    return Check(True, "answers, noeviction")


def freshest(kind: str, what: str) -> Check:
    """Whether any process of a kind beat within the stale limit, with the youngest beat's age."""
    stale_after, redis = current_app.config["HEARTBEAT_STALE_SECONDS"], queueing.redis_connection()
    found = heartbeats.ages(redis, kind)
    if not found:
        stopped_for = heartbeats.since_last_stop(redis, kind)  # the last one stopped cleanly, taking its beat
        return Check(False, f"no {what} is running", None if stopped_for is None else round(stopped_for, 1))
    age = min(found.values())
    if age > stale_after:
        return Check(False, f"no {what} has reported for {age:.0f} s (limit {stale_after} s)", round(age, 1))
    alive = sum(1 for seconds in found.values() if seconds <= stale_after)
    return Check(True, f"{alive} reporting, the latest {age:.1f} s ago", round(age, 1))


def overdue() -> Check:
    """Whether any notification waits past its due time by more than the allowed delay."""
    limit = current_app.config["OVERDUE_SECONDS"]
    oldest = db.session.scalar(select(func.min(Notification.due_at)).where(Notification.status.in_(OPEN)))
    late = (utcnow() - oldest).total_seconds() if oldest else 0.0
    if oldest and late > limit:
        count = db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.status.in_(OPEN), Notification.due_at < utcnow() - timedelta(seconds=limit))
        )
        return Check(False, f"{count} due notifications waiting over {limit} s, the oldest {late:.0f} s", late)
    return Check(True, f"none waiting over {limit} s", max(late, 0.0))


def planning() -> Check:
    """Whether any event has waited in the inbox longer than the allowed planning lag."""
    limit = current_app.config["PLANNING_LAG_SECONDS"]
    waiting, lag = planner.lag()
    if lag > limit:
        return Check(False, f"{waiting} events waiting to be planned, the oldest {lag:.0f} s (limit {limit} s)", lag)
    return Check(True, f"{waiting} waiting, the oldest {lag:.1f} s", lag)


# What the dashboard's banner says for each part that puts reminders at risk.
AT_RISK = {
    "database": "The database does not answer: nothing can be planned or sent.",
    "redis": "Redis is not usable ({detail}): no wake-up or delivery job can run.",
    "scheduler": "No scheduler is running the clock{since}: no reminder is being sent.",
    "workers": "No worker is running{since}: due reminders are not being sent.",
    "overdue": "Reminders are late: {detail}{since}.",
    "planning": "Events are not being planned: {detail}{since}.",
}


# Every dashboard page shows the banner, and working it out takes seven round trips to the database and Redis;
# a web process reuses its sentences this long, far below how fast a part goes red (HEARTBEAT_STALE_SECONDS).
BANNER_REUSE_SECONDS = 1.0


def risks() -> list[str]:
    """The dashboard banner's sentences, worked out at most once a second in each web process."""
    made_at, sentences = current_app.extensions.get("bellhop_banner", (None, []))
    if made_at is None or time.monotonic() - made_at >= BANNER_REUSE_SECONDS:
        sentences = fresh_risks()
        current_app.extensions["bellhop_banner"] = (time.monotonic(), sentences)
    return sentences


def fresh_risks() -> list[str]:
    """Sentences for the dashboard's banner, one per failing part that puts reminders at risk, with since when."""
    found = checks()
    sentences = [at_risk(name, check) for name, check in found.items() if not check.ok and name in AT_RISK]
    if found["database"].ok:
        sentences += sender_side_bounces()
    return sentences


SENDER_SIDE_WINDOW = timedelta(hours=24)
SENDER_SIDE = {
    "authfailure": "our mail fails SPF, DKIM or DMARC",
    "requireptr": "our sending address has no reverse DNS (PTR) the server accepts",
}


def sender_side_bounces() -> list[str]:
    """A sentence per sender-side bounce reason seen in the last day: an operator's problem, not the recipient's."""
    rows = db.session.execute(
        select(DeliveryReport.reason, func.count(), func.max(DeliveryReport.at))
        .where(DeliveryReport.reason.in_(SENDER_SIDE), DeliveryReport.at > utcnow() - SENDER_SIDE_WINDOW)
        .group_by(DeliveryReport.reason)
    )
    return [
        f"Mail servers refuse our email: {SENDER_SIDE[reason]} ({count} bounces in the last 24 h, "
        f"the latest at {latest:%Y-%m-%d %H:%M:%S} UTC). Check the sending domain's DNS."
        for reason, count, latest in rows
    ]


def at_risk(name: str, check: Check) -> str:
    """One banner sentence: what is wrong, and since when when that is known."""
    since = ""
    if check.age_seconds is not None:
        moment = utcnow() - timedelta(seconds=check.age_seconds)
        since = f" since {moment:%Y-%m-%d %H:%M:%S} UTC"
    return AT_RISK[name].format(detail=check.detail, since=since)
