"""Sustained accept and plan: events posted at a steady rate to the web tier while workers plan them.

The web tier is the Procfile's (2 gevent workers), planning runs in 2 RQ workers woken by the webhook,
and the client paces its posts to the offered rate. The figures: the rate accepted, and the planning lag
(from an event's arrival to the commit of the batch that planned it) read back from SQL. No scheduler
runs, so each event's 9 messages are planned as pending webhook rows, as in production, and none is
sent: this measures accepting and planning; the soak measures them beside sending.
"""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from multiprocessing import Pool

import urllib3
from sqlalchemy import select

from bench import ingest
from bench.stats import percentile
from tests.support.processes import stop
from tests.support.stack import SECRET, Stack
from webapp.extensions import db
from webapp.models import InboundEvent
from webapp.plumbing.signatures import sign

CLIENT_PROCESSES, THREADS_PER_PROCESS = 2, 16


def paced_share(args) -> tuple[int, int, float]:
    """One client process: post its share, each request at its own moment; return (ok, failed, behind).

    Each event is signed as it is sent: signed up front, a slow run's last events would be refused as
    older than the signature's 5-minute tolerance.
    """
    url, share, rate, started_at = args
    pool = urllib3.PoolManager(maxsize=THREADS_PER_PROCESS, retries=False, timeout=60)
    behind = []

    def post(indexed):
        index, (body, headers) = indexed
        moment = started_at + index / rate
        wait = moment - time.time()
        if wait > 0:
            time.sleep(wait)
        else:
            behind.append(-wait)
        headers = {**headers, **sign(SECRET, headers["webhook-id"], datetime.now(timezone.utc), body)}
        return pool.request("POST", url, body=body.encode(), headers=headers).status

    with ThreadPoolExecutor(THREADS_PER_PROCESS) as executor:
        codes = list(executor.map(post, enumerate(share)))
    ok = sum(1 for code in codes if code == 202)
    return ok, len(codes) - ok, max(behind, default=0.0)


def offer(url: str, batch: list, rate: float) -> dict:
    """Post the batch at the offered rate (events/s) from several client processes."""
    started_at = time.time() + 1.0
    per_process = rate / CLIENT_PROCESSES
    shares = [(url, batch[n::CLIENT_PROCESSES], per_process, started_at) for n in range(CLIENT_PROCESSES)]
    with Pool(CLIENT_PROCESSES) as pool:
        results = pool.map(paced_share, shares)
    elapsed = time.time() - started_at
    ok = sum(result[0] for result in results)
    return {
        "offered": rate,
        "count": len(batch),
        "accepted": ok,
        "failed": sum(result[1] for result in results),
        "throughput": ok / elapsed,
        "client_behind_max": max(result[2] for result in results),
    }


def wait_planned(stack: Stack, count: int, timeout: float) -> bool:
    """Wait until count events are stored and none waits to be planned."""
    deadline = time.monotonic() + timeout
    with stack.app.app_context():
        while time.monotonic() < deadline:
            db.session.rollback()
            outcomes = list(db.session.scalars(select(InboundEvent.outcome)))
            if len(outcomes) >= count and all(outcomes):
                return True
            time.sleep(0.5)
    return False


def planning_lags(stack: Stack) -> list[float]:
    """Seconds from arrival to planning, per stored event."""
    with stack.app.app_context():
        rows = db.session.execute(select(InboundEvent.received_at, InboundEvent.planned_at)).all()
        return [(planned - received).total_seconds() for received, planned in rows if planned]


def sustained(stack: Stack, rate: float, seconds: float, workers: int = 2, **env) -> dict:
    """Offer rate events/s for seconds to gunicorn with workers planning; the bare endpoint at that rate beside."""
    count = int(rate * seconds)
    stack.reset()
    bare_process, bare_url = ingest.serve(stack, "bench.bare_app:app")
    try:
        bare = offer(bare_url, ingest.signed_requests(count, stack.receiver_url), rate)
    finally:
        stop([bare_process])
    stack.reset()
    batch = ingest.signed_requests(count, stack.receiver_url)
    web, url = ingest.serve(stack, "wsgi:app")
    try:
        with stack.running(workers, scheduler=False, **env):
            time.sleep(2)  # the workers start
            ours = offer(url, batch, rate)
            complete = wait_planned(stack, ours["accepted"], 120)
    finally:
        stop([web])
    lags = planning_lags(stack)
    return {
        "bellhop": ours,
        "bare": bare,
        "complete": complete,
        "planned": len(lags),
        "lag_p50": percentile(lags, 0.5),
        "lag_p99": percentile(lags, 0.99),
        "lag_max": max(lags, default=float("nan")),
    }
