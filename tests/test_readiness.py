"""/healthz and /readyz: the scheduler, workers and consumer report by heartbeat; readiness names what is wrong."""

import os
import re
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.support import services
from tests.support.apps import config_for
from tests.support.factories import envelope, notifications, post_and_plan
from tests.support.processes import process_env, start, stop, wait_for, wait_until_ready
from tests.support.signin import sign_in
from webapp import create_app
from webapp.domain.staff.readiness import freshest
from webapp.domain.staff.readiness import redis as redis_check
from webapp.extensions import db

STALE_SECONDS = 3


@pytest.fixture
def config_overrides():
    """A short stale limit, so a stopped process is noticed within seconds."""
    return {"HEARTBEAT_STALE_SECONDS": STALE_SECONDS}


def readiness(client) -> tuple[int, dict]:
    """Ask /readyz; return its status code and body."""
    response = client.get("/readyz")
    return response.status_code, response.get_json()


def failing(client) -> list[str]:
    """The parts /readyz names as not fine."""
    return readiness(client)[1]["failing"]


def test_healthz_answers_while_nothing_else_does(redis_url):
    app = create_app(config_for("sqlite:////nonexistent/dir/bellhop.db", "redis://127.0.0.1:1/0"))
    assert app.test_client().get("/healthz").get_json() == {"status": "alive"}
    status, body = readiness(app.test_client())
    assert status == 503 and {"database", "redis"} <= set(body["failing"])
    assert "does not answer" in body["checks"]["database"]["detail"]


def test_ready_with_a_scheduler_and_a_worker_and_not_once_the_scheduler_stops_or_dies(
    client, database_url, redis_url, tmp_path
):
    env = {**process_env(database_url, redis_url), "BELLHOP_HEARTBEAT_STALE_SECONDS": str(STALE_SECONDS)}
    scheduler, worker = start("scheduler", env, tmp_path / "scheduler.log"), start("worker", env, tmp_path / "w.log")
    try:
        wait_until_ready(redis_url, tmp_path)
        assert wait_for(lambda: readiness(client)[0] == 200, 10), readiness(client)
        os.kill(scheduler.pid, signal.SIGSTOP)  # hung: alive, but the clock stands still
        stopped_at = time.monotonic()
        assert wait_for(lambda: failing(client) == ["scheduler"], STALE_SECONDS + 5), readiness(client)
        noticed_in = time.monotonic() - stopped_at
        os.kill(scheduler.pid, signal.SIGKILL)
        assert failing(client) == ["scheduler"]
        assert "no scheduler has reported for" in readiness(client)[1]["checks"]["scheduler"]["detail"]
        scheduler = start("scheduler", env, tmp_path / "scheduler2.log")
        restarted_at = time.monotonic()
        assert wait_for(lambda: readiness(client)[0] == 200, 20), readiness(client)
        ready_again_in = time.monotonic() - restarted_at
    finally:
        stop([scheduler, worker])
    assert noticed_in <= STALE_SECONDS + 2, noticed_in
    print(f"stopped scheduler noticed in {noticed_in:.1f} s; ready {ready_again_in:.1f} s after a restart")


def test_not_ready_without_a_worker(client, accounts, database_url, redis_url, tmp_path):
    env = {**process_env(database_url, redis_url), "BELLHOP_HEARTBEAT_STALE_SECONDS": str(STALE_SECONDS)}
    scheduler, worker = start("scheduler", env, tmp_path / "scheduler.log"), start("worker", env, tmp_path / "w.log")
    try:
        wait_until_ready(redis_url, tmp_path)
        assert wait_for(lambda: readiness(client)[0] == 200, 10), readiness(client)
        sign_in(client, "viewer@example.com")
        overview = client.get("/dashboard/").get_data(as_text=True)
        assert re.search(r"Last heartbeat:\s+scheduler [0-9.]+ s ago, worker [0-9.]+ s ago, consumer never", overview)
        os.kill(worker.pid, signal.SIGKILL)  # no clean exit: its last beat stays and grows old
        assert wait_for(lambda: failing(client) == ["workers"], STALE_SECONDS + 5), readiness(client)
    finally:
        stop([scheduler, worker])
    assert failing(client) == ["workers"]


def test_a_stopped_worker_takes_its_heartbeat_with_it(client, database_url, redis_url, tmp_path):
    worker = start("worker", process_env(database_url, redis_url), tmp_path / "w.log")
    wait_until_ready(redis_url, tmp_path, workers=1, with_scheduler=False)
    assert readiness(client)[1]["checks"]["workers"]["ok"]
    stop([worker])
    assert readiness(client)[1]["checks"]["workers"]["detail"] == "no worker is running"


def test_after_a_clean_stop_the_banner_still_says_since_when(client, accounts, database_url, redis_url, tmp_path):
    worker = start("worker", process_env(database_url, redis_url), tmp_path / "w.log")
    wait_until_ready(redis_url, tmp_path, workers=1, with_scheduler=False)
    stop([worker])  # SIGTERM: the worker finishes, takes its beat with it and notes when it stopped
    stopped_at = time.time()
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/").get_data(as_text=True)
    since = re.search(r"No worker is running since ([0-9: -]+) UTC: due reminders are not being sent\.", page)
    assert since, page
    moment = datetime.strptime(since[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    assert stopped_at - 3 <= moment <= stopped_at + 1


def test_overdue_notifications_are_named_with_their_count(app, client):
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1"}))
    assert readiness(client)[1]["checks"]["overdue"]["ok"]  # due now, not yet late
    [row] = notifications()
    row.due_at = row.due_at - timedelta(minutes=5)
    db.session.commit()
    check = readiness(client)[1]["checks"]["overdue"]
    assert not check["ok"] and check["detail"].startswith("1 due notifications waiting over 60 s")
    assert "overdue" in failing(client)


def test_a_redis_that_may_evict_is_not_ready(client, redis):
    redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        status, body = readiness(client)
    finally:
        redis.config_set("maxmemory-policy", "noeviction")
    assert status == 503 and "must be 'noeviction'" in body["checks"]["redis"]["detail"]


def test_a_managed_redis_that_refuses_config_is_checked_all_the_same(database_url, tmp_path):
    # Managed Redis services (Heroku's among them) do not let clients run CONFIG; INFO is enough.
    process, url = services.start_redis(tmp_path, None, None, "--rename-command", "CONFIG", "")
    try:
        worker = start("worker", process_env(database_url, url), tmp_path / "worker.log")
        app = create_app(config_for(database_url, url))
        with app.app_context():
            assert redis_check().ok, redis_check().detail
            assert wait_for(lambda: freshest("worker", "worker").ok, 60), (tmp_path / "worker.log").read_text()
        stop([worker])
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("amqp_url", [None, "amqp://guest:guest@127.0.0.1:1/%2F"])
def test_the_consumer_counts_only_when_a_broker_is_configured(app, client, amqp_url):
    app.config["AMQP_URL"] = amqp_url
    checks = readiness(client)[1]["checks"]
    assert ("consumer" in checks) == bool(amqp_url)
    if amqp_url:
        assert checks["consumer"] == {"ok": False, "detail": "no consumer is running", "age_seconds": None}
