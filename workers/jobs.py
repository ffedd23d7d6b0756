"""RQ jobs: plan the inbox, dispatch due rows, deliver a channel batch, sweep. Each runs in an app context."""

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from itertools import groupby

from flask import current_app
from rq import Queue
from sqlalchemy import select

from webapp.domain.planning import planner
from webapp.domain.sending import attempts, channel_contract, send_early, states, throttle
from webapp.domain.sending.channel_contract import DeliveryError, permanent, transient
from webapp.domain.sending.templates import checks
from webapp.domain.staff import sessions as staff_sessions
from webapp.extensions import db
from webapp.models import Booking, Notification, NotificationStatus, NotificationType
from webapp.models.types import utcnow
from webapp.plumbing import database_errors, logs, queueing
from workers.channels import get_channel

log = logging.getLogger(__name__)
DELIVER_JOB = "workers.jobs.deliver"
# Failed RQ jobs are only debugging aids: SQL keeps the record that matters.
FAILURE_TTL = 7 * 24 * 3600


def plan_inbox() -> int:
    """Plan the inbox until it is empty (woken when events arrive); return how many were planned.

    Before it stops, the job lets the next event wake another, then looks once more: an event stored
    between its last batch and that moment is planned here, since its wake-up found this job's mark.
    """
    planned = 0
    try:
        while True:
            planned += planner.plan_waiting()
            queueing.planner_finished()
            if not planner.waiting() or not queueing.take_planner_role():
                return planned
            planner.give_way()
    except BaseException:
        queueing.planner_finished()  # a failed job must not keep the next event from waking a planner
        raise


def dispatch_due() -> int:
    """Claim every due pending row in batches and hand each channel batch to a deliver job."""
    config, claimed_total = current_app.config, 0
    while True:
        claimed = states.claim_due(utcnow(), config["DISPATCH_BATCH_SIZE"])
        db.session.commit()
        enqueue_deliveries(claimed)
        claimed_total += len(claimed)
        if len(claimed) < config["DISPATCH_BATCH_SIZE"]:
            return claimed_total


def enqueue_deliveries(claimed: list[tuple[int, str]]) -> None:
    """Enqueue one deliver job per channel batch, all in one round trip."""
    size = current_app.config["DELIVER_BATCH_SIZE"]
    timeout = int(size * (current_app.config["WEBHOOK_TIMEOUT_SECONDS"] + 5) + 60)
    jobs = []
    for channel, rows in groupby(sorted(claimed, key=lambda row: row[1]), key=lambda row: row[1]):
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), size):
            jobs.append(
                Queue.prepare_data(
                    DELIVER_JOB,
                    args=(ids[start : start + size], channel),
                    timeout=timeout,
                    result_ttl=60,
                    failure_ttl=FAILURE_TTL,
                )
            )
    if jobs:
        queue = queueing.queue()
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()


def deliver(notification_ids: list[int], channel_name: str) -> int:
    """Send a batch of one channel's messages over reused connections; return how many were sent."""
    batch = database_errors.retrying(attempts.claim_batch, notification_ids)
    try:
        channel = get_channel(channel_name, current_app.config)
    except KeyError as error:
        # A misspelt channel in the configuration: fail the messages visibly, do not retry forever.
        now = utcnow()
        settle([attempts.Outcome(item, now, now, error=permanent(str(error.args[0]))) for item in batch])
        return 0
    claimed_at, sent, width = utcnow(), 0, channel.concurrency
    window = width * current_app.config["SEND_ROUNDS_PER_COMMIT"]
    with channel.opened() as sender, sending(width) as send_all:
        for start in range(0, len(batch), window):
            claimed_at = attempts.keep_leases(batch[start:], claimed_at)
            sent += deliver_window(batch[start : start + window], sender, send_all, width)
    return sent


@contextmanager
def sending(width: int):
    """Yield a map function that runs up to width sends at once (a plain map for one)."""
    if width <= 1:
        yield map
        return
    with ThreadPoolExecutor(width, thread_name_prefix="send") as pool:
        yield pool.map


def deliver_window(window: list[attempts.Prepared], sender, send_all, width: int) -> int:
    """Throttle a window, then re-check and send it a round at a time; record every outcome in one commit."""
    ready = throttle.hold_back(window, sender.name, utcnow())  # may wait up to a second for the rate
    outcomes = []
    for start in range(0, len(ready), width):
        # Taken before each round's re-check, so an attempt that starts after a cancel commits always sees it.
        started_at = utcnow()
        batch = database_errors.retrying(attempts.keep_wanted, ready[start : start + width])
        outcomes += send_all(partial(attempt, sender=sender, started_at=started_at), batch)
    settle(outcomes)
    return sum(1 for outcome in outcomes if outcome.error is None)


def attempt(item: attempts.Prepared, sender, started_at) -> attempts.Outcome:
    """Send one message (on a sending thread); turn any failure into a classified error."""
    with logs.context(notification_id=item.notification_id, booking_id=item.booking_id):
        try:
            if item.error:
                raise item.error
            answer = sender.send(item.message)
        except DeliveryError as error:
            return attempts.Outcome(item, started_at, utcnow(), error=error)
        except Exception as error:  # an unforeseen bug: retried, bounded by the attempt limit
            log.exception("notification %s: unexpected error while sending", item.notification_id)
            return attempts.Outcome(item, started_at, utcnow(), error=transient(f"unexpected: {error!r}"))
    if isinstance(answer, channel_contract.Accepted):
        return attempts.Outcome(item, started_at, utcnow(), summary=answer.summary, provider_ref=answer.provider_ref)
    return attempts.Outcome(item, started_at, utcnow(), summary=answer)


def settle(outcomes: list[attempts.Outcome]) -> None:
    """Record outcomes in one commit, log the failures, arm wake-ups for the retries."""
    for outcome in outcomes:
        if outcome.error:
            with logs.context(notification_id=outcome.item.notification_id, booking_id=outcome.item.booking_id):
                log.warning(
                    "notification %s attempt %s failed: %s",
                    outcome.item.notification_id,
                    outcome.item.attempts,
                    outcome.error,
                )
    # Retried after a conflict: the messages went out, and their record must not wait for the lease to expire.
    queueing.arm_wakeups(database_errors.retrying(attempts.record, outcomes))


def sweep() -> dict:
    """Safety net: take back expired leases, send clusters early, dispatch what is due, re-arm wake-ups, tidy up."""
    config = current_app.config
    waiting = planner.waiting()
    if waiting:
        queueing.wake_planner()  # a wake-up may have been lost with Redis; a planning job may have died
    # Read before the statement: a row claimed meanwhile is then only later than the head, never wrongly spared.
    head_since = queueing.head_enqueued_at()
    returned, exhausted = states.release_expired(utcnow(), config["MAX_ATTEMPTS"], head_since)
    db.session.commit()
    moved_early = send_early.pack_all(utcnow())
    dispatched = dispatch_due()
    armed = queueing.arm_wakeups(upcoming_due_times(2 * config["SWEEP_INTERVAL_SECONDS"] + 1))
    sessions_purged = staff_sessions.purge_old(utcnow())
    if returned or exhausted or dispatched or moved_early:
        log.info(
            "sweep: %d leases returned, %d exhausted, %d moved early or back, %d dispatched",
            returned,
            exhausted,
            moved_early,
            dispatched,
        )
    return {
        "waiting": waiting,
        "returned": returned,
        "exhausted": exhausted,
        "moved_early": moved_early,
        "dispatched": dispatched,
        "armed": armed,
        "sessions_purged": sessions_purged,
    }


def recover_lost_jobs(lost_by: str) -> dict:
    """Redis came back empty (seen at lost_by): its queued delivery jobs are gone, so send their rows again."""
    released = states.release_queued(utcnow(), datetime.fromisoformat(lost_by))
    db.session.commit()
    dispatched = dispatch_due()
    if released:
        log.warning("Redis lost its jobs: %d queued rows taken back, %d dispatched", len(released), dispatched)
    else:  # a first start, or an empty Redis while nothing was queued: nothing was lost
        log.info("Redis had no sweep yet; no queued rows to take back, %d dispatched", dispatched)
    return {"released": len(released), "dispatched": dispatched}


def upcoming_due_times(horizon_seconds: int, limit: int = 1000) -> list:
    """Return distinct due times of pending rows in the next horizon: a flushed Redis forgot them."""
    now = utcnow()
    query = (
        select(Notification.due_at)
        .where(
            Notification.status == NotificationStatus.PENDING,
            Notification.due_at > now,
            Notification.due_at <= now + timedelta(seconds=horizon_seconds),
        )
        .distinct()
        .limit(limit)
    )
    return list(db.session.scalars(query))


def send_test(kind: str, channel_name: str, locale: str, booking_id: str | None, party: str, contact: dict) -> str:
    """An operator's test send: render a template and send it to the address given, recording nothing else.

    Raises DeliveryError (the job fails, and the dashboard shows why) when the channel refuses.
    """
    booking = db.session.scalar(select(Booking).filter_by(external_id=booking_id)) if booking_id else None
    facts = checks.preview(NotificationType(kind), channel_name, locale, booking, party)
    message = channel_contract.Outgoing(
        0,
        f"bellhop-test-{uuid.uuid4().hex}",
        kind,
        channel_name,
        facts["subject"],
        facts["body"],
        {"external_id": "test", "name": "Test", **contact},
        {"type": kind, "subject": facts["subject"], "body": facts["body"], "test": True},
    )
    with get_channel(channel_name, current_app.config).opened() as sender:
        answer = sender.send(message)
    return answer.summary if isinstance(answer, channel_contract.Accepted) else answer
