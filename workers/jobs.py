"""RQ jobs: dispatch due rows, deliver a channel batch, sweep. Each runs in an app context."""

import logging
from datetime import timedelta
from itertools import groupby

from flask import current_app
from rq import Queue
from sqlalchemy import select

from webapp import queueing
from webapp.domain import delivery, transitions
from webapp.domain.delivery import DeliveryError, permanent, transient
from webapp.extensions import db
from webapp.models import Notification, NotificationStatus
from webapp.models.types import utcnow
from workers.channels import get_channel
from workers.logcontext import current_notification

log = logging.getLogger(__name__)
DELIVER_JOB = "workers.jobs.deliver"
# Failed RQ jobs are only debugging aids: SQL keeps the record that matters.
FAILURE_TTL = 7 * 24 * 3600


def dispatch_due() -> int:
    """Claim every due pending row in batches and hand each channel batch to a deliver job."""
    config, claimed_total = current_app.config, 0
    while True:
        claimed = transitions.claim_due(utcnow(), config["DISPATCH_BATCH_SIZE"])
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
            jobs.append(Queue.prepare_data(DELIVER_JOB, args=(ids[start:start + size], channel),
                                           timeout=timeout, result_ttl=60, failure_ttl=FAILURE_TTL))
    if jobs:
        queue = queueing.queue()
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()


def deliver(notification_ids: list[int], channel_name: str) -> int:
    """Send a batch of one channel's messages over one connection; return how many were sent."""
    batch = delivery.claim_batch(notification_ids)
    try:
        channel = get_channel(channel_name, current_app.config)
    except KeyError as error:
        # A misspelt channel in the configuration: fail the messages visibly, do not retry forever.
        for item in batch:
            settle_failure(item, utcnow(), permanent(str(error.args[0])))
        return 0
    claimed_at, sent = utcnow(), 0
    try:
        with channel.opened() as sender:
            for position, item in enumerate(batch):
                current_notification.set(item.notification_id)
                claimed_at = delivery.keep_leases(batch[position:], claimed_at)
                sent += deliver_one(item, sender)
    finally:
        current_notification.set(None)
    return sent


def deliver_one(item: delivery.Prepared, sender) -> bool:
    """Re-check, send and record one claimed message; True when it was sent."""
    if not delivery.still_wanted(item):
        delivery.abandon(item)
        return False
    started_at = utcnow()
    if item.error:
        return settle_failure(item, started_at, item.error)
    try:
        summary = sender.send(item.message)
    except DeliveryError as error:
        return settle_failure(item, started_at, error)
    except Exception as error:  # an unforeseen bug: retried, bounded by the attempt limit
        log.exception("notification %s: unexpected error while sending", item.notification_id)
        return settle_failure(item, started_at, transient(f"unexpected: {error!r}"))
    delivery.succeed(item, started_at, summary)
    return True


def settle_failure(item: delivery.Prepared, started_at, error: DeliveryError) -> bool:
    """Record a failed attempt and arm a wake-up for its retry."""
    log.warning("notification %s attempt %s failed: %s", item.notification_id, item.attempts, error)
    retry_at = delivery.fail(item, started_at, error)
    if retry_at is not None:
        queueing.arm_wakeups([retry_at])
    return False


def sweep() -> dict:
    """Safety net: take back expired leases, dispatch anything due, re-arm imminent wake-ups."""
    config = current_app.config
    returned, exhausted = transitions.release_expired(utcnow(), config["MAX_ATTEMPTS"])
    db.session.commit()
    dispatched = dispatch_due()
    armed = queueing.arm_wakeups(upcoming_due_times(2 * config["SWEEP_INTERVAL_SECONDS"] + 1))
    if returned or exhausted or dispatched:
        log.info("sweep: %d leases returned, %d exhausted, %d dispatched", returned, exhausted, dispatched)
    return {"returned": returned, "exhausted": exhausted, "dispatched": dispatched, "armed": armed}


def upcoming_due_times(horizon_seconds: int, limit: int = 1000) -> list:
    """Return distinct due times of pending rows in the next horizon: a flushed Redis forgot them."""
    now = utcnow()
    query = (
        select(Notification.due_at)
        .where(Notification.status == NotificationStatus.PENDING, Notification.due_at > now,
               Notification.due_at <= now + timedelta(seconds=horizon_seconds))
        .distinct()
        .limit(limit)
    )
    return list(db.session.scalars(query))
