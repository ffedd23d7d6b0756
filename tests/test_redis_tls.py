"""Redis over TLS (rediss://), as Heroku Redis and most managed Redis services offer it."""

from datetime import timedelta

import pytest

from tests.support import services
from tests.support.apps import config_for
from tests.support.factories import booking_payload, contact, envelope, notifications, now, post_and_plan
from tests.support.processes import process_env, start, stop, wait_for
from webapp import create_app
from webapp.domain.staff import readiness
from webapp.plumbing import queueing


@pytest.fixture
def tls_redis(tmp_path, certificate):
    """A Redis that speaks TLS only, with the test set-up's self-signed certificate for 127.0.0.1."""
    process, url = services.start_redis(tmp_path, tls=certificate)
    yield url
    process.terminate()
    process.wait(10)


def test_a_self_signed_certificate_is_refused_unless_told_otherwise(database_url, tls_redis, certificate):
    cert, _ = certificate
    verified = create_app(config_for(database_url, tls_redis, REDIS_TLS_VERIFY="required"))
    with verified.app_context():
        check = readiness.redis()
        assert not check.ok and "does not answer" in check.detail
    for settings in ({"REDIS_TLS_VERIFY": "none"}, {"REDIS_TLS_VERIFY": "required", "REDIS_TLS_CA_FILE": cert}):
        app = create_app(config_for(database_url, tls_redis, **settings))
        with app.app_context():
            assert queueing.redis_connection().ping()
            assert readiness.redis().ok


def test_reminders_go_out_through_a_tls_redis(database_url, tls_redis, certificate, tmp_path):
    env = {**process_env(database_url, tls_redis), "REDIS_TLS_CA_FILE": certificate[0]}
    app = create_app(config_for(database_url, tls_redis, REDIS_TLS_CA_FILE=certificate[0]))
    running = [start("scheduler", env, tmp_path / "scheduler.log"), start("worker", env, tmp_path / "worker.log")]
    try:
        with app.app_context():
            redis_ready = lambda: readiness.freshest("worker", "worker").ok  # noqa: E731
            assert wait_for(redis_ready, 60), (tmp_path / "worker.log").read_text()[-2000:]
        client = app.test_client()
        with app.app_context():
            from tests.support.apps import clear_tables

            clear_tables()
            payload = booking_payload(start=now() + timedelta(days=1), client=contact("client-1"))
            assert post_and_plan(client, envelope("booking.created", payload)).status_code == 202
            sent = lambda: {row.status.value for row in notifications(type="booking_created")} == {"sent"}  # noqa: E731
            assert wait_for(sent, 30), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        stop(running)


def test_a_worker_refuses_an_unverifiable_certificate_and_says_why(database_url, tls_redis, tmp_path):
    process = start("worker", process_env(database_url, tls_redis), tmp_path / "worker.log")
    try:
        assert process.wait(60) != 0
    finally:
        stop([process])
    assert "certificate verify failed" in (tmp_path / "worker.log").read_text()
