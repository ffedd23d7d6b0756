"""The Procfile's worker and scheduler as real processes, and the checks they make at start."""

import http.client
import json
from datetime import timedelta

import pytest

from tests.support import services
from tests.support.factories import booking_payload, envelope, notifications, now, post_and_plan, signed_headers
from tests.support.processes import process_env, start, stop, wait_for, wait_until_ready, web


@pytest.fixture
def processes(database_url, redis_url, tmp_path):
    """Start a scheduler and a forking worker; stop them after the test."""
    env = process_env(database_url, redis_url)
    running = [start("scheduler", env, tmp_path / "scheduler.log"), start("worker", env, tmp_path / "worker.log")]
    try:
        wait_until_ready(redis_url, tmp_path)
        yield tmp_path
    finally:
        stop(running)


def test_signed_event_reaches_the_receiver_through_scheduler_and_worker(client, receiver, processes):
    start_at = (now() + timedelta(seconds=4)).replace(microsecond=0)
    hook = {"id": "expert-1", "name": "Grace", "webhook_url": receiver.url, "timezone": "America/New_York"}
    response = post_and_plan(client, envelope("booking.created", booking_payload(start=start_at, expert=hook)))
    assert response.status_code == 202

    def start_reminders_sent():
        return {r.status.value for r in notifications(type="booking_start")} == {"sent"}

    assert wait_for(start_reminders_sent, 20), (processes / "worker.log").read_text()[-3000:]
    by_type = {r["json"]["type"]: r for r in receiver.received}
    assert set(by_type) == {"booking_created", "booking_start"}
    assert all(r["verified"] for r in receiver.received)
    for row in notifications(type="booking_start"):
        assert timedelta(0) <= row.sent_at - row.scheduled_at < timedelta(seconds=3)
    assert "notification" in (processes / "worker.log").read_text()  # the log channel's line


@pytest.mark.parametrize("kind", ["worker", "scheduler"])
def test_refuses_to_start_when_redis_may_evict(kind, database_url, redis_url, redis, tmp_path):
    redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        process = start(kind, process_env(database_url, redis_url), tmp_path / "out.log")
        assert process.wait(30) != 0
    finally:
        redis.config_set("maxmemory-policy", "noeviction")
    output = (tmp_path / "out.log").read_text()
    assert "maxmemory-policy is 'allkeys-lru'" in output
    assert "noeviction" in output


def test_same_event_posted_concurrently_is_applied_once(client, web_server):
    import json
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from tests.support.factories import plan, row_counts, signed_headers

    body = json.dumps(envelope("booking.created", booking_payload()))
    headers = signed_headers(body, event_id="evt-concurrent")

    def send(_):
        return requests.post(f"{web_server}/webhooks/events", data=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(send, range(40)))
    assert sorted(set(codes)) == [200, 202] and codes.count(202) == 1
    plan()
    counts = row_counts()
    assert counts["inbound_events"] == 1 and counts["bookings"] == 1
    assert counts["notifications"] == len(notifications()) == 9  # booking_created + 2 x 4 reminders


def test_concurrent_bookings_sharing_new_recipients_all_apply(client, web_server):
    import json
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from tests.support.factories import plan, row_counts, signed_headers

    def send(n):
        body = json.dumps(envelope("booking.created", booking_payload(f"b-{n}")))
        return requests.post(
            f"{web_server}/webhooks/events", data=body, headers=signed_headers(body), timeout=30
        ).status_code

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(send, range(20)))
    assert codes == [202] * 20
    plan()
    counts = row_counts()
    assert (counts["bookings"], counts["recipients"], counts["inbound_events"]) == (20, 2, 20)


def chunked_post(url: str, body: bytes) -> int:
    """POST a signed body with Transfer-Encoding: chunked (no Content-Length), as streaming clients do."""
    host, port = url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    pieces = (body[start : start + 16_384] for start in range(0, len(body), 16_384))
    connection.request("POST", "/webhooks/events", pieces, signed_headers(body.decode()), encode_chunked=True)
    return connection.getresponse().status


def test_a_chunked_body_is_taken_below_the_limit_and_refused_with_413_above_it(database_url, redis_url, tmp_path):
    with web(process_env(database_url, redis_url), tmp_path / "web.log", workers=1) as url:
        small = json.dumps(envelope("booking.created", booking_payload())).encode()
        assert chunked_post(url, small) == 202
        padded = envelope("booking.created", booking_payload("b-2", service_name="x" * 200))
        padded["payload"]["notes"] = "a" * 300_000  # past the 256 KiB limit, with no length to check first
        assert chunked_post(url, json.dumps(padded).encode()) == 413


def test_web_stops_promptly_when_told_to_while_its_workers_boot(database_url, redis_url, tmp_path):
    env = {**process_env(database_url, redis_url), "PORT": str(services.free_port()), "WEB_CONCURRENCY": "2"}
    for attempt in range(3):  # the port opens before the workers boot: a stop sent then lands mid-boot
        process = start("web", env, tmp_path / f"web{attempt}.log")
        try:
            services.wait_for_port(int(env["PORT"]))
            process.terminate()
            process.wait(10)  # gunicorn's graceful timeout is 30 s; a worker that missed the stop waits it out
        finally:
            stop([process])


def test_events_send_posts_to_the_web_process_on_the_port_the_environment_names(
    app, database_url, redis_url, tmp_path, monkeypatch
):
    port = services.free_port()  # not 8000: the command must read PORT, as make run's web process does
    with web(process_env(database_url, redis_url), tmp_path / "web.log", workers=1, port=port):
        monkeypatch.setenv("PORT", str(port))
        sent = app.test_cli_runner().invoke(args=["events", "send", "booking.created", "--demo"])
    assert sent.exit_code == 0, sent.output
    assert sent.output.startswith("202 ")
