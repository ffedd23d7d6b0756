"""Two schedulers and four workers on one 10,000 burst, and a scheduler killed while it holds the lock."""

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import func, select

from tests.support.factories import this_second
from tests.support.processes import log_tail, process_env, start, stop, wait_for
from tests.support.stack import seed_reminders
from webapp.extensions import db
from webapp.models import Notification
from webapp.plumbing import queueing
from workers.scheduler import LOCK_SECONDS, BellhopScheduler

pytestmark = pytest.mark.slow  # make test-fast leaves it out; it asserts what is sent, not how soon

BURST = 10_000
LOCK_KEY = BellhopScheduler.scheduler_lock_key


def stop_while_holding_the_lock(redis: Redis, pid: int, seconds: float = 60) -> bool:
    """SIGSTOP the scheduler at a moment it holds the lock, far from expiry; False if that never came.

    A pass holds the lock for milliseconds, so a try can miss it: the scheduler is let go and caught at a
    later pass. Once it is stopped and the lock still names it, it cannot let the lock go any more.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not held_by(redis, pid):
            continue
        os.kill(pid, signal.SIGSTOP)
        wait_until_stopped(pid)
        if held_by(redis, pid) and redis.pttl(LOCK_KEY) > 500:
            return True
        os.kill(pid, signal.SIGCONT)
    return False


def held_by(redis: Redis, pid: int) -> bool:
    """Whether the scheduler lock's value names this process."""
    holder = redis.get(LOCK_KEY)
    return holder is not None and holder.decode().endswith(f":{pid}")


def wait_until_stopped(pid: int) -> None:
    """Wait until the kernel reports the process stopped: a signal is delivered, not taken, at once."""
    while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
        time.sleep(0.0005)


def test_two_schedulers_four_workers_and_a_killed_lock_holder_send_everything_once(
    app, database_url, redis_url, receiver, tmp_path
):
    from datetime import timedelta

    due = [this_second() + timedelta(seconds=4)] * BURST
    seed_reminders(app, receiver.url, due)
    queueing.arm_wakeups(due[:1])
    env = {
        **process_env(database_url, redis_url),
        "BELLHOP_CHANNELS": "none",
        "BELLHOP_RETRY_BASE_SECONDS": "1",
        "BELLHOP_RETRY_MAX_SECONDS": "2",
    }
    first, second = (start("scheduler", env, tmp_path / f"scheduler{n}.log") for n in range(2))
    workers = [start("worker", env, tmp_path / f"worker{n}.log") for n in range(4)]
    redis = Redis.from_url(redis_url)
    try:
        time.sleep(1.5)
        os.kill(second.pid, signal.SIGSTOP)  # only the first runs, so the lock we catch is the first's
        assert stop_while_holding_the_lock(redis, first.pid), "the first scheduler never held its lock"
        os.kill(first.pid, signal.SIGKILL)  # dies holding the lock: stopped, it could not let it go
        os.kill(second.pid, signal.SIGCONT)
        assert wait_for(lambda: len(receiver.received) >= BURST, 180), log_tail(tmp_path)
        time.sleep(1)  # anything sent twice would arrive by now
    finally:
        stop([first, second, *workers])
    arrivals = Counter(request["headers"]["webhook-id"] for request in receiver.received)
    assert len(arrivals) == BURST and max(arrivals.values()) == 1  # nothing missed, nothing twice
    db.session.expire_all()
    sent = db.session.scalar(select(func.count()).select_from(Notification).where(Notification.status == "sent"))
    assert sent == BURST
    late = sorted(request["at"] - due[0].timestamp() for request in receiver.received)
    print(
        f"{BURST} sent once each; lateness p50 {late[len(late) // 2]:.2f} s, max {late[-1]:.2f} s "
        f"(lock {LOCK_SECONDS} s)"
    )
