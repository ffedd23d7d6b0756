"""Two schedulers and four workers on one 10,000 burst, and a scheduler killed while it holds the lock."""

import os
import signal
import time
from collections import Counter

from redis import Redis
from sqlalchemy import func, select

from bench.harness import seed_reminders
from tests.faults.test_redis_lost import Stack, log_tail, queueing_now
from tests.test_processes import process_env, start, wait_for
from webapp import queueing
from webapp.extensions import db
from webapp.models import Notification
from workers.scheduler import LOCK_SECONDS

BURST = 10_000


def test_two_schedulers_four_workers_and_a_killed_lock_holder_send_everything_once(
    app, database_url, redis_url, receiver, tmp_path
):
    from datetime import timedelta

    due = [queueing_now() + timedelta(seconds=4)] * BURST
    seed_reminders(Stack(app, receiver.url), due)
    queueing.arm_wakeups(due[:1])
    env = {
        **process_env(database_url, redis_url),
        "BELLHOP_CHANNELS": "",
        "BELLHOP_RETRY_BASE_SECONDS": "1",
        "BELLHOP_RETRY_MAX_SECONDS": "2",
    }
    first, second = (start("scheduler", env, tmp_path / f"scheduler{n}.log") for n in range(2))
    workers = [start("worker", env, tmp_path / f"worker{n}.log") for n in range(4)]
    redis = Redis.from_url(redis_url)
    lock_key = "rq:scheduler_lock"
    try:
        time.sleep(1.5)
        os.kill(second.pid, signal.SIGSTOP)  # only the first runs, so the lock we catch is the first's
        deadline = time.monotonic() + 10
        while not redis.exists(lock_key) and time.monotonic() < deadline:
            pass
        os.kill(first.pid, signal.SIGKILL)  # dies holding the lock
        held = redis.exists(lock_key)
        os.kill(second.pid, signal.SIGCONT)
        assert held, "did not catch the first scheduler holding its lock"
        assert wait_for(lambda: len(receiver.received) >= BURST, 180), log_tail(tmp_path)
        time.sleep(1)  # anything sent twice would arrive by now
    finally:
        for process in [first, second, *workers]:
            if process.poll() is None:
                process.terminate()
        for process in [first, second, *workers]:
            process.wait(30)
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
