"""Burst: many reminders due in the same second, delivered over the webhook channel."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from multiprocessing import Pool

import requests
import urllib3
from rq_scheduler import Scheduler

from bench.stats import lateness_summary
from tests.support.stack import Stack, insert_in_chunks, refresh_statistics, seed_reminders
from webapp.extensions import db
from webapp.models import Suppression
from webapp.plumbing import queueing

LEAD_SECONDS = 6  # time for the processes to start before the reminders fall due


def due_second() -> datetime:
    """A whole second a little in the future."""
    return (datetime.now(timezone.utc) + timedelta(seconds=LEAD_SECONDS)).replace(microsecond=0)


def measure(stack: Stack, count: int, due: datetime, timeout: float) -> dict:
    """Wait for every message and summarise throughput and lateness against the due time."""
    complete = stack.wait_for_arrivals(count, timeout)
    arrivals = stack.arrivals()
    lateness = [arrived - due.timestamp() for _, arrived in arrivals]
    distinct = len({notification_id for notification_id, _ in arrivals})
    span = max(arrived for _, arrived in arrivals) - due.timestamp() if arrivals else float("nan")
    return {
        "count": count,
        "received": len(arrivals),
        "distinct": distinct,
        "complete": complete,
        "throughput": len(arrivals) / span if arrivals else 0.0,
        **lateness_summary(lateness or [0.0]),
    }


def bellhop_burst(
    stack: Stack, count: int, workers: int = 2, timeout: float = 600, simple: bool = False, suppressed: int = 0
) -> dict:
    """Bellhop's design: one wake-up for the second, dispatch claims rows, deliver jobs per batch.

    With suppressed, that many other addresses are on the suppression list first, so the claim's
    check of the list runs against a table of that size.
    """
    stack.reset()
    if suppressed:
        seed_suppressions(stack.app, suppressed)
    due = due_second()
    seed_reminders(stack.app, stack.receiver_url, [due] * count)
    with stack.app.app_context():
        queueing.arm_wakeups([due])
    with stack.running(workers, simple=simple):
        return measure(stack, count, due, timeout)


def seed_suppressions(app, count: int) -> None:
    """Put count addresses on the list, none of them the burst's: half webhook URLs, half email addresses."""
    with app.app_context():
        now = datetime.now(timezone.utc)
        rows = [
            {
                "channel": "webhook" if n % 2 else "email",
                "address": f"https://gone-{n}.example/hook" if n % 2 else f"gone-{n}@example.com",
                "reason": "bench: hard bounce",
                "source": "bench",
                "created_at": now,
            }
            for n in range(count)
        ]
        insert_in_chunks(Suppression, rows)
        db.session.commit()
        refresh_statistics()


def naive_burst(stack: Stack, count: int, workers: int = 2, timeout: float = 600) -> dict:
    """The naive design: one rq-scheduler job per notification, each delivering one message."""
    stack.reset()
    due = due_second()
    ids = seed_reminders(stack.app, stack.receiver_url, [due] * count, status="queued")
    with stack.app.app_context():
        clock = Scheduler(queue_name=stack.app.config["RQ_QUEUE"], connection=queueing.redis_connection())
        for notification_id in ids:
            clock.enqueue_at(due, "workers.jobs.deliver", [notification_id], "webhook")
    with stack.running(workers, BELLHOP_SWEEP_SECONDS="3600"):
        return measure(stack, count, due, timeout)


def raw_capacity(stack: Stack, count: int, workers: int = 2) -> dict:
    """The receiver's own capacity: a plain client posting as many requests with Bellhop's concurrency.

    The client mirrors Bellhop's shape, one process per worker with a thread per concurrent send,
    over the same HTTP library (urllib3, keep-alive), so neither side gets a cheaper client.
    """
    threads = stack.app.config["WEBHOOK_CONCURRENCY"]
    per_process = count // workers
    requests.post(f"http://127.0.0.1:{stack.receiver_port}/reset", timeout=10)
    started = time.perf_counter()
    with Pool(workers) as pool:
        pool.map(post_many, [(stack.receiver_url, per_process, threads)] * workers)
    elapsed = time.perf_counter() - started
    return {
        "count": per_process * workers,
        "concurrency": workers * threads,
        "throughput": per_process * workers / elapsed,
    }


def post_many(args: tuple[str, int, int]) -> None:
    """One client process: post count bodies from threads sharing a keep-alive pool."""
    url, count, threads = args
    body = json.dumps({"notification_id": 0, "type": "booking_start", "subject": "x" * 40, "body": "y" * 200})
    pool = urllib3.PoolManager(maxsize=threads, retries=False, timeout=10)

    def post(_):
        pool.request("POST", url, body=body.encode(), headers={"Content-Type": "application/json"})

    with ThreadPoolExecutor(threads) as executor:
        list(executor.map(post, range(count)))


def measure_each(stack: Stack, due_by_id: dict, timeout: float) -> dict:
    """Wait for every message and summarise each one's lateness against its own due time."""
    complete = stack.wait_for_arrivals(len(due_by_id), timeout)
    arrivals = stack.arrivals()
    lateness = [arrived - due_by_id[notification_id].timestamp() for notification_id, arrived in arrivals]
    return {
        "count": len(due_by_id),
        "received": len(arrivals),
        "complete": complete,
        **lateness_summary(lateness or [0.0]),
    }
