"""Delivery reports, fallback and bounces through the Procfile's real web, scheduler and worker processes."""

import json

import pytest
import requests
from sqlalchemy import select

from tests.support import bounces, services
from tests.support.factories import envelope, notifications, signed_headers
from tests.support.processes import process_env, start, stop, wait_for, wait_until_ready, web
from tests.support.providers import Twilio
from webapp.extensions import db
from webapp.models import Preference

BOUNCE_TOKEN = "bounce-token-for-process-tests-0123"
ADDRESS = "lin@example.com"


@pytest.fixture
def stack(app, database_url, redis_url, tmp_path, twilio, smtp):
    """Web, scheduler and worker with SMS falling back to email; yields the web's base URL."""
    port = services.free_port()
    env = {
        **process_env(database_url, redis_url),
        "BELLHOP_CHANNELS": "sms,email",
        "BELLHOP_WEBHOOK_CHANNEL": "false",
        "BELLHOP_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BELLHOP_FALLBACKS": "user_welcome: sms, email",
        "BELLHOP_BOUNCE_TOKEN": BOUNCE_TOKEN,
        "BELLHOP_BOUNCE_ADDRESS": "bounces@bellhop.example",
        "TWILIO_BASE_URL": twilio.url,
        "TWILIO_ACCOUNT_SID": Twilio.SID,
        "TWILIO_AUTH_TOKEN": Twilio.TOKEN,
        "TWILIO_FROM": Twilio.FROM,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
    }
    running = [start("scheduler", env, tmp_path / "scheduler.log"), start("worker", env, tmp_path / "worker.log")]
    try:
        with web(env, tmp_path / "web.log", port=port) as url:
            wait_until_ready(redis_url, tmp_path)
            yield url
    finally:
        stop(running)


def send_callback(callback: dict) -> int:
    """Post a signed callback to the URL Twilio was given, as Twilio does."""
    return requests.post(callback["url"], data=callback["form"], headers=callback["headers"], timeout=10).status_code


def test_a_receipt_falls_back_to_email_and_its_bounce_suppresses_the_address(stack, twilio, smtp, tmp_path):
    body = json.dumps(
        envelope("user.welcome", {"user_id": "u-1", "name": "Lin", "phone": "+4915112345678", "email": ADDRESS})
    )
    assert (
        requests.post(f"{stack}/webhooks/events", data=body, headers=signed_headers(body), timeout=10).status_code
        == 202
    )
    assert wait_for(lambda: twilio.created, 20), (tmp_path / "worker.log").read_text()[-3000:]
    [sid] = twilio.created

    # Late, twice and out of order: undelivered before sent, and undelivered again.
    for status, code in (("undelivered", "30003"), ("sent", None), ("undelivered", "30003")):
        assert send_callback(twilio.status_callback(sid, status, code)) == 200

    assert wait_for(lambda: len(smtp.raw) == 1, 20), (tmp_path / "worker.log").read_text()[-3000:]
    rows = {row.channel: row for row in notifications()}
    assert rows["sms"].delivery_state == "undelivered" and "30003" in rows["sms"].delivery_detail
    assert rows["email"].replaces_id == rows["sms"].id

    report = bounces.postfix(smtp.raw[0], smtp.senders[0], ADDRESS)
    answer = requests.post(
        f"{stack}/webhooks/email/bounce", data=report, headers={"Authorization": f"Bearer {BOUNCE_TOKEN}"}, timeout=10
    )
    assert answer.status_code == 200 and answer.json()["kind"] == "hard"
    assert wait_for(lambda: {row.channel: row.delivery_state for row in notifications()}["email"] == "undelivered", 5)


def test_a_stop_reply_through_the_web_process_opts_the_number_out(stack, twilio):
    person = {"user_id": "u-1", "name": "Lin", "phone": "+4915112345678"}
    body = json.dumps(envelope("user.welcome", person))
    assert requests.post(f"{stack}/webhooks/events", data=body, headers=signed_headers(body), timeout=10).ok
    assert wait_for(lambda: len(notifications()) == 1, 10)  # planned by the worker: the number is known
    reply = twilio.reply(f"{stack}/webhooks/twilio/inbound", "+4915112345678", "Stop")
    answer = requests.post(reply["url"], data=reply["form"], headers=reply["headers"], timeout=10)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
    forged = requests.post(reply["url"], data={**reply["form"], "Body": "START"}, headers=reply["headers"], timeout=10)
    assert forged.status_code == 403
    with_preferences = db.session.scalars(select(Preference)).all()
    assert [(row.channel, row.opted_in, row.source) for row in with_preferences] == [
        ("sms", False, "SMS reply STOP from +4915112345678")
    ]
