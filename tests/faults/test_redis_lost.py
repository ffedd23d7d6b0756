"""Redis restarted and flushed mid-burst: SQL holds the truth, so the sweep delivers everything, once."""

import itertools
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import func, select

from tests.support import services
from tests.support.apps import config_for
from tests.support.factories import this_second
from tests.support.processes import log_tail, process_env, start, stop, wait_for
from tests.support.stack import seed_reminders
from webapp import create_app
from webapp.extensions import db
from webapp.models import Notification
from webapp.plumbing import queueing

pytestmark = [pytest.mark.slow, pytest.mark.timing]  # make test-fast leaves it out

PENDING, IN_FLIGHT_AT_LEAST = 1_100, 100


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test's own, which it may restart and flush."""
    process, url = services.start_redis(tmp_path)
    state = {"process": process, "url": url, "port": int(url.rsplit(":", 1)[1].split("/")[0])}
    yield state
    state["process"].terminate()
    state["process"].wait(10)


def restart_flushed(state: dict, workdir: Path) -> None:
    """Lose everything Redis held, as a crash of a non-persistent Redis does."""
    state["process"].kill()
    state["process"].wait(10)
    state["process"], _ = services.start_redis(workdir, state["port"])


def test_a_flushed_redis_mid_burst_loses_nothing_and_resends_nothing_already_sent(
    database_url, private_redis, receiver, tmp_path
):
    app = create_app(config_for(database_url, private_redis["url"]))
    env = {
        **process_env(database_url, private_redis["url"]),
        "BELLHOP_LEASE_SECONDS": "3",
        "BELLHOP_WEBHOOK_CONCURRENCY": "8",
        "BELLHOP_DELIVER_BATCH": "50",
        "BELLHOP_CHANNELS": "none",
    }
    with app.app_context():
        from tests.support.apps import clear_tables

        clear_tables()
        due = [this_second() + timedelta(seconds=3)] * PENDING
        seed_reminders(app, receiver.url, due)
        queueing.arm_wakeups(due[:1])
    for _ in range(PENDING):
        receiver.answer(200, delay=0.02)  # slow enough that a batch is out when Redis goes
    processes = [start("scheduler", env, tmp_path / "scheduler.log"), start("worker", env, tmp_path / "worker.log")]
    try:
        assert wait_for(lambda: len(receiver.received) >= IN_FLIGHT_AT_LEAST, 30), log_tail(tmp_path)
        restart_flushed(private_redis, tmp_path)
        flushed_at = time.time()
        assert wait_for(lambda: len({r["headers"]["webhook-id"] for r in receiver.received}) >= PENDING, 60), log_tail(
            tmp_path
        )
        longest_pause = longest_gap([flushed_at] + [r["at"] for r in receiver.received if r["at"] > flushed_at])
    finally:
        stop(processes, 20)
    with app.app_context():
        counts = select(Notification.status, func.count()).group_by(Notification.status)
        statuses = dict(db.session.execute(counts).all())
        db.engine.dispose()
    assert {status.value: count for status, count in statuses.items()} == {"sent": PENDING}
    repeats = [
        key for key, count in Counter(r["headers"]["webhook-id"] for r in receiver.received).items() if count > 1
    ]
    # Only a message on the wire when Redis went may go twice (with the same key); a batch is 50.
    assert len(repeats) <= 50, repeats[:5]
    print(f"deliveries paused at most {longest_pause:.1f} s after the flush; {len(repeats)} sent twice")
    # Recovery is the longest stretch with nothing delivered (how long the rest takes is throughput, and
    # depends on the machine's load). Queued rows whose jobs were lost are taken back as soon as the
    # scheduler sees the empty Redis; rows that were being sent wait out their lease (3 s here), since their
    # sender may still be at it. Then one sweep (2 s), and the worker's 2 s pause before it reconnects; 3 s
    # of slack for this shared machine.
    assert longest_pause < 3 + 2 + 2 + 3, (longest_pause, log_tail(tmp_path))


def longest_gap(moments: list[float]) -> float:
    """The longest time between consecutive moments."""
    ordered = sorted(moments)
    return max((later - earlier for earlier, later in itertools.pairwise(ordered)), default=0.0)


def test_the_scheduler_outlives_a_redis_outage_longer_than_its_clients_retries(database_url, private_redis, tmp_path):
    from webapp.plumbing import heartbeats

    redis = Redis.from_url(private_redis["url"])
    scheduler = start("scheduler", process_env(database_url, private_redis["url"]), tmp_path / "scheduler.log")
    try:
        assert wait_for(lambda: heartbeats.ages(redis, "scheduler"), 30), log_tail(tmp_path)
        private_redis["process"].kill()
        private_redis["process"].wait(10)
        time.sleep(OUTAGE_SECONDS)
        private_redis["process"], _ = services.start_redis(tmp_path, private_redis["port"])
        # Back, and empty: the scheduler beats again, and has put the sweep back.
        assert wait_for(lambda: heartbeats.ages(redis, "scheduler") and redis.zcard(SCHEDULED) > 0, 30), (
            scheduler.poll(),
            log_tail(tmp_path),
        )
        assert scheduler.poll() is None
    finally:
        stop([scheduler], 20)
    assert "lost Redis" in (tmp_path / "scheduler.log").read_text()


# Longer than redis-py's own retries of a refused connection, which cover a quick restart.
OUTAGE_SECONDS = 12
SCHEDULED = "rq:scheduler:scheduled_jobs"
