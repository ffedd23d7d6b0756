"""Logs: JSON lines or text, each line naming its request or job, quiet when all is well, never forgeable."""

import json
import re
from datetime import timedelta

import pytest
import requests

from tests.support.factories import (
    booking_payload,
    contact,
    envelope,
    notifications,
    now,
    post,
    signed_headers,
)
from tests.support.processes import process_env, start, stop, wait_for, wait_until_ready, web
from webapp.extensions import db
from webapp.models import Recipient

# A name that, written raw, would end the log channel's line and start a forged one, then colour the terminal.
FORGING_NAME = "Eve\r\n2026-01-01 00:00:00,000 ERROR bellhop: forged line\x1b[31m"


def run_worker_and_scheduler(database_url, redis_url, client, tmp_path, **settings):
    """Post a booking for a client with a forging name; return the worker's log once its message is sent."""
    env = {**process_env(database_url, redis_url), **settings}
    running = [start("scheduler", env, tmp_path / "scheduler.log"), start("worker", env, tmp_path / "worker.log")]
    try:
        wait_until_ready(redis_url, tmp_path)
        # The webhook refuses control characters in names; a name typed into Flask-Admin, or stored before that
        # rule, still reaches the log channel.
        db.session.add(Recipient(external_id="expert-1", name=FORGING_NAME))
        db.session.commit()
        expert = {"id": "expert-1", "timezone": "Europe/Berlin"}  # no name: the stored one stands
        payload = booking_payload(start=now() + timedelta(days=1), expert=expert)
        assert post(client, envelope("booking.created", payload)).status_code == 202  # the worker plans it
        sent = lambda: {row.status.value for row in notifications(type="booking_created")} == {"sent"}  # noqa: E731
        assert wait_for(sent, 30), (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        stop(running)
    return (tmp_path / "worker.log").read_text()


def test_text_lines_escape_control_characters_and_name_the_job(database_url, redis_url, client, tmp_path):
    output = run_worker_and_scheduler(database_url, redis_url, client, tmp_path, LOG_FORMAT="text")
    assert "\x1b" not in output and "\r" not in output
    assert not any(line.startswith("2026-01-01") for line in output.splitlines())  # no forged line
    [line] = [line for line in output.splitlines() if "forged line" in line]
    assert r"Eve\r" in line and r"forged line\x1b[31m" in line  # escaped, in the one line that is genuine
    assert re.search(r" INFO bellhop\.channels\.log \[job_id=\S+ notification_id=\d+ booking_id=\d+\]: ", line)
    # What was routine (each job's start, "Job OK", the result kept, the poll) stayed out at INFO.
    for routine in ("Job OK", "Successfully completed", "Listening on", "workers.jobs.dispatch_due"):
        assert routine not in output


def test_json_lines_carry_the_ids_and_debug_shows_the_routine(database_url, redis_url, client, tmp_path):
    output = run_worker_and_scheduler(database_url, redis_url, client, tmp_path, LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    records = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line is one JSON object
    [sent] = [record for record in records if "forged line\x1b[31m" in record["message"]]
    assert sent["level"] == "INFO" and sent["logger"] == "bellhop.channels.log"
    assert {"job_id", "notification_id", "booking_id", "time"} <= set(sent)
    routine = [record for record in records if record["message"].startswith("Successfully completed")]
    assert routine and {record["level"] for record in routine} == {"DEBUG"}


def test_log_level_warning_keeps_only_warnings_and_errors(database_url, redis_url, client, tmp_path):
    output = run_worker_and_scheduler(database_url, redis_url, client, tmp_path, LOG_LEVEL="WARNING")
    assert "forged line" not in output and " INFO " not in output


@pytest.fixture
def web_json(database_url, redis_url, tmp_path):
    """The Procfile's web process writing JSON lines at INFO."""
    env = {**process_env(database_url, redis_url), "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    with web(env, tmp_path / "web.log", workers=1) as url:
        yield url


def refused_post(url: str, request_id: str | None) -> requests.Response:
    body = json.dumps(envelope("booking.created", booking_payload(client=contact("c", email="not\r\nan email"))))
    headers = {**signed_headers(body), **({"X-Request-ID": request_id} if request_id else {})}
    return requests.post(f"{url}/webhooks/events", data=body, headers=headers, timeout=10)


def test_web_lines_carry_the_request_id_which_the_response_returns(web_json, tmp_path):
    assert refused_post(web_json, "req-4711").headers["X-Request-ID"] == "req-4711"
    generated = refused_post(web_json, None).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert refused_post(web_json, "no spaces\tor tabs").headers["X-Request-ID"] != "no spaces\tor tabs"
    assert requests.get(f"{web_json}/healthz", timeout=10).status_code == 200
    log_path = tmp_path / "web.log"
    assert wait_for(lambda: log_path.read_text().count("request_id=") >= 3, 10)
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    refused = [record for record in records if record["message"].startswith("event refused")]
    assert [record["request_id"] for record in refused][:2] == ["req-4711", generated]
    assert refused[0]["level"] == "WARNING" and "\r" not in log_path.read_text()
    access = [record["message"] for record in records if record["logger"] == "gunicorn.access"]
    assert any("request_id=req-4711" in line and '" 400 ' in line for line in access)
    assert not any("/healthz" in line for line in access)  # a success is routine: DEBUG, not shown at INFO


def test_a_redis_outage_is_logged_once_as_it_starts_and_once_as_it_ends(app, client, caplog):
    redis_url = app.config["REDIS_URL"]
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    app.extensions.pop("bellhop_redis")
    for n in range(5):  # each accepted event would wake the planner, which needs Redis
        assert post(client, envelope("user.welcome", {"user_id": f"u-{n}"})).status_code == 202
    app.config["REDIS_URL"] = redis_url
    app.extensions.pop("bellhop_redis")
    assert post(client, envelope("user.welcome", {"user_id": "u-5"})).status_code == 202
    lines = [record.getMessage() for record in caplog.records if "Redis" in record.getMessage()]
    assert len(lines) == 2, lines
    assert lines[0].startswith("Redis is unreachable (ConnectionError") and "wake the planner" in lines[0]
    assert re.fullmatch(r"Redis answers again after \d+ s; 5 calls failed meanwhile", lines[1])
    assert "Traceback" not in caplog.text and not any(record.exc_info for record in caplog.records)
