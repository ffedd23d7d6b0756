"""GET /metrics: counts from every process (gunicorn workers, forked work horses), read access kept narrow."""

import json
import re
from datetime import timedelta

import pytest
import requests
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import booking_payload, contact, envelope, now, post_and_plan, signed_headers
from tests.support.processes import process_env, start, stop, wait_for, wait_until_ready, web
from webapp.flask_config import PROJECT_ROOT
from webapp.plumbing import queueing


def samples(text: str) -> dict[tuple, float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


def total(scraped: dict, name: str, **labels) -> float:
    """The sum of a metric's samples whose labels include these."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in scraped.items() if n == name and wanted <= set(found))


@pytest.mark.parametrize(
    ("config", "address", "headers", "status"),
    [
        ({}, "127.0.0.1", {}, 200),
        ({}, "203.0.113.5", {}, 403),
        ({"METRICS_NETWORKS": ["10.0.0.0/8"]}, "10.1.2.3", {}, 200),
        ({"METRICS_TOKEN": "scrape-me"}, "203.0.113.5", {"Authorization": "Bearer scrape-me"}, 200),
        ({"METRICS_TOKEN": "scrape-me"}, "203.0.113.5", {"Authorization": "Bearer guess"}, 403),
        ({}, "203.0.113.5", {"Authorization": "Bearer "}, 403),  # no token configured: a bearer opens nothing
    ],
)
def test_metrics_are_served_to_allowed_networks_or_with_the_token(app, client, config, address, headers, status):
    app.config.update(config)
    response = client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": address})
    assert response.status_code == status
    if status == 200:
        assert "bellhop_due_unsent" in response.get_data(as_text=True)


METRIC_NAME = re.compile(r"\bbellhop_[a-z_]*[a-z]")
# A counter's samples end in _total and a histogram's in _bucket, _sum and _count; the docs name either.
SAMPLE_SUFFIX = re.compile(r"_(total|bucket|sum|count|created)$")


def test_every_metric_the_docs_name_is_served(client):
    """Every metric in a docs table or alert rule exists: an alert written from the docs can fire."""
    served = client.get("/metrics").get_data(as_text=True) + generate_latest(REGISTRY).decode()
    families = {family.name for family in text_string_to_metric_families(served)}
    documented = {
        name
        for page in [PROJECT_ROOT / "README.md", *(PROJECT_ROOT / "docs").glob("*.md")]
        for name in METRIC_NAME.findall(page.read_text())
    }
    assert len(documented) >= 20
    unknown = sorted(
        name for name in documented if SAMPLE_SUFFIX.sub("", name) not in families and name not in families
    )
    assert unknown == []


def scraped(client) -> dict[tuple, float]:
    return samples(client.get("/metrics").get_data(as_text=True))


def test_due_unsent_and_queue_depth_move_with_what_waits(client, run_jobs):
    empty = scraped(client)
    assert value(empty, "bellhop_due_unsent") == 0 and value(empty, "bellhop_queue_depth") == 0
    post_and_plan(client, envelope("booking.created", booking_payload("b-1", start=now() + timedelta(days=3))))
    waiting = scraped(client)
    assert value(waiting, "bellhop_due_unsent") >= 1  # the expert's notice, due at once
    queueing.queue().enqueue("workers.jobs.sweep")
    assert value(scraped(client), "bellhop_queue_depth") == value(waiting, "bellhop_queue_depth") + 1
    run_jobs()
    done = scraped(client)
    assert value(done, "bellhop_due_unsent") == 0 and value(done, "bellhop_queue_depth") == 0


def post(url: str, event: dict, **headers) -> requests.Response:
    body = json.dumps(event)
    return requests.post(f"{url}/webhooks/events", data=body, headers={**signed_headers(body), **headers}, timeout=10)


def test_counts_from_web_workers_and_forked_horses_add_up(database_url, redis_url, receiver, tmp_path):
    metrics_dir = tmp_path / "metrics"
    env = {
        **process_env(database_url, redis_url),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "BELLHOP_RETRY_BASE_SECONDS": "1",
    }
    receiver.answer(500)  # the first post fails, and is retried
    running = [start("scheduler", env, tmp_path / "scheduler.log"), start("worker", env, tmp_path / "worker.log")]
    try:
        wait_until_ready(redis_url, tmp_path)
        with web(env, tmp_path / "web.log", workers=2) as url:
            bookings = 6
            for n in range(bookings):  # each books an expert with a webhook: one post per booking
                expert = contact(f"expert-{n}", webhook_url=receiver.url)
                payload = booking_payload(f"b-{n}", now() + timedelta(days=2), expert=expert, expert_id=f"expert-{n}")
                assert post(url, envelope("booking.created", payload)).status_code == 202
            assert post(url, envelope("booking.created", {"booking_id": "b-x"})).status_code == 400
            assert post(url, envelope("booking.created", {}), **{"webhook-signature": "v1,AAAA"}).status_code == 401
            assert wait_for(lambda: len(receiver.received) >= bookings + 1, 30), (tmp_path / "worker.log").read_text()
            scraped = {}

            def counted_all_sent() -> bool:
                scraped.update(samples(requests.get(f"{url}/metrics", timeout=10).text))
                return total(scraped, "bellhop_notifications_finished_total", channel="webhook") >= bookings

            assert wait_for(counted_all_sent, 20), scraped
    finally:
        stop(running)

    events = {"source": "webhook", "event_type": "booking.created"}
    assert value(scraped, "bellhop_events_received_total", **events, outcome="accepted") == bookings
    assert value(scraped, "bellhop_events_planned_total", event_type="booking.created", outcome="applied") == bookings
    assert value(scraped, "bellhop_planning_lag_seconds_count") == bookings
    assert value(scraped, "bellhop_events_received_total", **events, outcome="invalid") == 1
    assert (
        value(scraped, "bellhop_events_received_total", source="webhook", event_type="unknown", outcome="bad_signature")
        == 1
    )
    assert total(scraped, "bellhop_webhook_request_duration_seconds_count") == bookings + 2
    sent = {"type": "booking_created", "channel": "webhook", "status": "sent"}
    assert value(scraped, "bellhop_notifications_finished_total", **sent) == bookings
    assert value(scraped, "bellhop_delivery_lateness_seconds_count", channel="webhook") == bookings
    assert value(scraped, "bellhop_provider_errors_total", channel="webhook", error_class="transient") == 1
    assert value(scraped, "bellhop_retries_total", channel="webhook") == 1
    assert value(scraped, "bellhop_processes_reporting", kind="worker") == 1
    assert value(scraped, "bellhop_heartbeat_age_seconds", kind="scheduler") < 10
    assert value(scraped, "bellhop_redis_up") == 1 and value(scraped, "bellhop_database_up") == 1
    # Every horse the worker forked counted into one file, not one file per job.
    assert len(list(metrics_dir.glob("counter_*-horses.db"))) == 1
    assert len(list(metrics_dir.glob("counter_*.db"))) <= 5  # 2 web workers, the horses, and a few more
