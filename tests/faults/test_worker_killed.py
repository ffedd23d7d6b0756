"""kill -9 mid-batch, ten times: the work horse alone, or the worker with its horse. Nothing is lost.

Counted from the 202: each message is planned from an event the webhook accepted, by the killed workers' own
planning jobs, so a kill mid-planning counts as much as one mid-send.
"""

import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.support.factories import envelope, post
from tests.support.processes import log_tail, process_env, start, stop, wait_for
from webapp.extensions import db
from webapp.models import InboundEvent, Notification

pytestmark = pytest.mark.slow  # make test-fast leaves it out; it asserts what is sent, not how soon

MESSAGES, TRIALS, LEASE_SECONDS = 600, 10, 3


def kill(pid: int) -> bool:
    """SIGKILL pid; False if it had already exited."""
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def accept_events(client, hook_url: str) -> int:
    """Post MESSAGES user.welcome events, each sending one message at once by webhook; return how many got 202."""
    welcome = [envelope("user.welcome", {"user_id": f"u-{n}", "webhook_url": hook_url}) for n in range(MESSAGES)]
    return sum(post(client, event).status_code == 202 for event in welcome)


def test_killing_workers_mid_batch_loses_nothing(app, client, database_url, redis_url, receiver, tmp_path):
    env = {
        **process_env(database_url, redis_url),
        "BELLHOP_LEASE_SECONDS": str(LEASE_SECONDS),
        "BELLHOP_DELIVER_BATCH": "20",
        "BELLHOP_WEBHOOK_CONCURRENCY": "4",
        "BELLHOP_CHANNELS": "none",
    }
    assert accept_events(client, receiver.url) == MESSAGES
    for _ in range(MESSAGES * 2):
        receiver.answer(200, delay=0.03)  # a batch of 20 takes about 0.15 s: long enough to be hit mid-way
    scheduler = start("scheduler", env, tmp_path / "scheduler.log")
    workers = [start("worker", env, tmp_path / "worker0.log")]
    kills = []
    try:
        for trial in range(TRIALS):
            target = len(receiver.received) + 25
            assert wait_for(lambda target=target: len(receiver.received) >= target or all_done(), 30), log_tail(
                tmp_path
            )
            if all_done():
                break
            worker = workers[-1]
            horses = children(worker.pid)
            if trial % 2 == 0 and horses:
                if not kill(horses[0]):  # the horse alone: the worker notices and goes on
                    continue  # it finished its job first
                kills.append("horse")
            else:
                for pid in [*horses, worker.pid]:
                    kill(pid)  # the whole worker: a process manager starts another
                worker.wait(10)
                workers.append(start("worker", env, tmp_path / f"worker{len(workers)}.log"))
                kills.append("worker+horse" if horses else "worker")
        last_kill = time.monotonic()
        assert wait_for(all_done, LEASE_SECONDS + 2 * 2 + 10), log_tail(tmp_path)
        recovered_in = time.monotonic() - last_kill
    finally:
        stop([scheduler, *workers], 20)
    db.session.expire_all()
    counts = dict(db.session.execute(select(Notification.status, func.count()).group_by(Notification.status)).all())
    assert {status.value: count for status, count in counts.items()} == {"sent": MESSAGES}  # one per 202
    arrivals = Counter(request["headers"]["webhook-id"] for request in receiver.received)
    assert len(arrivals) == MESSAGES  # every message arrived
    repeats = sum(count - 1 for count in arrivals.values())
    assert len(kills) >= 5, kills
    # A kill can re-send what its window had on the wire (4 posts), with the same webhook-id.
    assert repeats <= 4 * len(kills), (repeats, kills)
    print(f"{len(kills)} kills {Counter(kills)}; recovered {recovered_in:.1f} s after the last; {repeats} re-sent")


def all_done() -> bool:
    """Every accepted event planned, and every message it planned finished."""
    db.session.expire_all()
    waiting = db.session.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.outcome.is_(None)))
    unfinished = db.session.scalar(
        select(func.count()).select_from(Notification).where(Notification.status.not_in(("sent", "failed")))
    )
    return waiting == 0 and unfinished == 0
