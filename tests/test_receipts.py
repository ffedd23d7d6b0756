"""After the provider: Twilio's status callbacks and replies, Telegram's dead chats, the suppression list."""

import math
import time

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from tests.support.factories import booking_payload, contact, envelope, notifications, post_and_plan, row_counts
from tests.support.providers import Twilio, post_callback, settings_for
from webapp.extensions import db
from webapp.models import AuditEntry, DeliveryReport, Preference, Recipient, Suppression

NUMBER = "+4915112345678"
WELCOME = {"user_id": "u-1", "name": "Lin Chen", "timezone": "Europe/Berlin"}


@pytest.fixture
def config_overrides(request):
    overrides = {"CHANNELS": [], "WEBHOOK_CHANNEL_ENABLED": False, "RETRY_BASE_SECONDS": 1}
    for name in ("twilio", "telegram"):
        if name in request.fixturenames:
            overrides.update(settings_for(name, request.getfixturevalue(name)))
    if "behind_proxy" in request.fixturenames:
        overrides["PUBLIC_URL"] = "https://bellhop.example.com"
    return overrides


def sent_sms(client, run_jobs, twilio, user_id="u-1", phone=NUMBER) -> tuple[str, int]:
    """Send one welcome SMS through the real worker; return its MessageSid and notification id."""
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "user_id": user_id, "phone": phone}))
    run_jobs()
    [row] = [row for row in notifications() if row.recipient.external_id == user_id]
    assert row.status.value == "sent"
    return row.provider_ref, row.id


def run_when_due(run_jobs) -> None:
    """Wait for the wake-up of a message posted this second, then run the jobs."""
    time.sleep(math.ceil(time.time()) - time.time() + 0.3)
    run_jobs()


def reports(notification_id: int) -> list[tuple[str, str]]:
    rows = db.session.scalars(select(DeliveryReport).filter_by(notification_id=notification_id))
    return sorted((row.source, row.state) for row in rows)


def test_the_stand_in_signs_callbacks_as_the_twilio_package_computes(twilio, client, run_jobs):
    sid, _ = sent_sms(client, run_jobs, twilio)
    validator = RequestValidator(Twilio.TOKEN)
    for callback in (twilio.status_callback(sid, "delivered"), twilio.reply("https://b.example/in", NUMBER, "STOP")):
        expected = validator.compute_signature(callback["url"], callback["form"])
        assert callback["headers"]["X-Twilio-Signature"] == expected


def test_each_message_carries_a_status_callback_to_the_public_url(twilio, client, run_jobs):
    sid, notification_id = sent_sms(client, run_jobs, twilio)
    callback = twilio.created[sid]["StatusCallback"]
    assert callback == f"http://127.0.0.1:8000/webhooks/twilio/status?notification={notification_id}"


def test_receipts_for_several_messages_late_twice_and_out_of_order_only_move_forward(twilio, client, run_jobs):
    for n in range(3):
        post_and_plan(client, envelope("user.welcome", {**WELCOME, "user_id": f"u-{n}", "phone": NUMBER}))
    run_jobs()
    sids = {row.provider_ref: row.id for row in notifications()}
    assert len(sids) == 3 and None not in sids
    first, second, third = sids
    # Interleaved across messages, each report twice, later states before earlier ones.
    arrivals = [
        (first, "delivered", None),
        (second, "undelivered", "30003"),
        (third, "sent", None),
        (first, "sent", None),
        (second, "sent", None),
        (first, "delivered", None),
        (third, "delivered", None),
        (second, "undelivered", "30003"),
        (third, "sent", None),
        (first, "undelivered", "30008"),
        (second, "queued", None),
    ]
    for sid, status, code in arrivals:
        answer = post_callback(client, twilio.status_callback(sid, status, code))
        assert answer.status_code == 200, answer.data
    db.session.expire_all()
    states = {row.provider_ref: (row.status.value, row.delivery_state) for row in notifications()}
    assert states == {first: ("sent", "delivered"), second: ("sent", "undelivered"), third: ("sent", "delivered")}
    assert reports(sids[first]) == [("twilio", "delivered"), ("twilio", "sent"), ("twilio", "undelivered")]
    assert reports(sids[second]) == [("twilio", "sent"), ("twilio", "undelivered")]
    assert reports(sids[third]) == [("twilio", "delivered"), ("twilio", "sent")]


def test_a_repeated_receipt_changes_nothing(twilio, client, run_jobs):
    sid, _ = sent_sms(client, run_jobs, twilio)
    post_callback(client, twilio.status_callback(sid, "sent"))
    before = row_counts()
    assert post_callback(client, twilio.status_callback(sid, "sent")).status_code == 200
    assert row_counts() == before


def test_undelivered_to_a_dead_number_names_the_code_and_suppresses_the_number(twilio, client, run_jobs):
    sid, notification_id = sent_sms(client, run_jobs, twilio)
    post_callback(client, twilio.status_callback(sid, "undelivered", "30005"))
    db.session.expire_all()
    [row] = notifications()
    assert row.delivery_state == "undelivered"
    assert "30005" in row.delivery_detail and "unknown destination handset" in row.delivery_detail
    [suppressed] = db.session.scalars(select(Suppression))
    assert (suppressed.channel, suppressed.address) == ("sms", NUMBER)

    # A later message to that number is stopped in the claim, with the list's reason; Twilio sees nothing.
    post_and_plan(client, envelope("user.password_reset", {"user_id": "u-1", "reset_url": "https://x.example/r"}))
    run_when_due(run_jobs)
    [later] = notifications(type="user_password_reset")
    assert later.status.value == "suppressed" and "30005" in later.last_error
    assert len(twilio.requests) == 1


def test_a_bad_signature_is_403_and_changes_nothing(twilio, client, run_jobs):
    sid, _ = sent_sms(client, run_jobs, twilio)
    callback = twilio.status_callback(sid, "undelivered", "30005")
    before = row_counts()
    forged = {**callback, "form": {**callback["form"], "ErrorCode": "30006"}}
    unsigned = {**callback, "headers": {}}
    for attempt in (forged, unsigned):
        assert post_callback(client, attempt).status_code == 403
    assert row_counts() == before
    assert notifications()[0].delivery_state is None


def test_an_unknown_message_sid_is_acknowledged_and_changes_nothing(twilio, client, run_jobs, caplog):
    sid, _ = sent_sms(client, run_jobs, twilio)
    callback = twilio.status_callback(sid, "delivered")
    stranger = twilio.signed(
        "http://127.0.0.1:8000/webhooks/twilio/status", {**callback["form"], "MessageSid": "SM" + "f" * 32}
    )
    before = row_counts()
    answer = post_callback(client, stranger)
    assert answer.status_code == 200 and answer.json["status"] == "unknown"
    assert row_counts() == before
    assert "unknown message SM" in caplog.text


@pytest.fixture
def behind_proxy():
    """Bellhop's public URL is a proxy's (set in config_overrides, before pytest-flask builds the app)."""


def test_behind_a_proxy_the_public_url_is_the_one_validated(behind_proxy, twilio, client, run_jobs):
    sid, _ = sent_sms(client, run_jobs, twilio)
    callback = twilio.status_callback(sid, "delivered")
    assert callback["url"].startswith("https://bellhop.example.com/webhooks/twilio/status?")
    assert post_callback(client, callback).status_code == 200
    assert notifications()[0].delivery_state == "delivered"


def test_a_callback_signed_for_another_deployment_is_refused_whatever_host_it_names(twilio, client, run_jobs):
    sid, notification_id = sent_sms(client, run_jobs, twilio)
    staging = "https://bellhop-staging.example.com"  # another deployment on the same Twilio account
    path = f"/webhooks/twilio/status?notification={notification_id}"
    report = twilio.signed(staging + path, twilio.status_callback(sid, "undelivered", "30005")["form"])
    stop = twilio.reply(f"{staging}/webhooks/twilio/inbound", NUMBER, "STOP")
    before = row_counts()
    for url, callback in ((path, report), ("/webhooks/twilio/inbound", stop)):
        # The client names the other deployment's host: the URL rebuilt from the request matches its signature.
        answer = client.post(url, data=callback["form"], headers=callback["headers"], base_url=staging)
        assert answer.status_code == 403, url
    assert row_counts() == before
    assert notifications()[0].delivery_state is None


def test_a_status_report_for_another_messages_sid_changes_nothing(twilio, client, run_jobs):
    first_sid, first_id = sent_sms(client, run_jobs, twilio)
    second_sid, _ = sent_sms(client, run_jobs, twilio, user_id="u-2", phone="+4915112345679")
    public = "http://127.0.0.1:8000/webhooks/twilio/status"
    aimed = twilio.signed(
        f"{public}?notification={first_id}", twilio.status_callback(second_sid, "undelivered", "30005")["form"]
    )
    before = row_counts()
    answer = post_callback(client, aimed)
    assert answer.status_code == 200 and answer.json["status"] == "unknown"
    assert row_counts() == before
    assert [row.delivery_state for row in notifications()] == [None, None]
    assert post_callback(client, twilio.status_callback(first_sid, "delivered")).json["status"] == "recorded"


def sms_booking(client):
    """A booking whose client is reached by SMS: reminders planned."""
    person = contact("client-1", phone=NUMBER)
    post_and_plan(client, envelope("booking.created", booking_payload(client=person)))


def test_stop_opts_the_number_out_and_suppresses_what_was_planned(twilio, client):
    sms_booking(client)
    pending = [row for row in notifications() if row.recipient.external_id == "client-1"]
    assert pending and all(row.status.value == "pending" for row in pending)

    reply = twilio.reply("http://127.0.0.1:8000/webhooks/twilio/inbound", NUMBER, " stop ")
    answer = post_callback(client, reply)
    assert answer.status_code == 200 and answer.mimetype == "text/xml"

    db.session.expire_all()
    assert {row.status.value for row in notifications() if row.recipient.external_id == "client-1"} == {"suppressed"}
    [preference] = db.session.scalars(select(Preference))
    assert (preference.channel, preference.opted_in) == ("sms", False)
    assert preference.source == f"SMS reply STOP from {NUMBER}"
    [entry] = db.session.scalars(select(AuditEntry).filter_by(action="sms_opt_out"))
    assert entry.target == "recipient client-1" and entry.rows == len(pending)

    post_callback(client, twilio.reply("http://127.0.0.1:8000/webhooks/twilio/inbound", NUMBER, "START"))
    db.session.expire_all()
    [preference] = db.session.scalars(select(Preference))
    assert preference.opted_in and preference.source == f"SMS reply START from {NUMBER}"


@pytest.mark.parametrize("word", ["STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"])
def test_every_standard_opt_out_keyword_opts_out(twilio, client, word):
    sms_booking(client)
    post_callback(client, twilio.reply("http://127.0.0.1:8000/webhooks/twilio/inbound", NUMBER, word.lower()))
    db.session.expire_all()
    assert db.session.scalar(select(Preference.opted_in)) is False


def test_help_and_other_text_are_recorded_but_opt_nobody_out(twilio, client):
    sms_booking(client)
    url = "http://127.0.0.1:8000/webhooks/twilio/inbound"
    post_callback(client, twilio.reply(url, NUMBER, "HELP"))
    post_callback(client, twilio.reply(url, NUMBER, "stop sending me reminders please"))
    assert db.session.scalars(select(Preference)).all() == []
    assert [entry.action for entry in db.session.scalars(select(AuditEntry))] == ["sms_help"]


def test_a_forged_reply_is_403_and_opts_nobody_out(twilio, client):
    sms_booking(client)
    reply = twilio.reply("http://127.0.0.1:8000/webhooks/twilio/inbound", NUMBER, "STOP")
    reply["headers"]["X-Twilio-Signature"] = "AAAA" + reply["headers"]["X-Twilio-Signature"][4:]
    before = row_counts()
    assert post_callback(client, reply).status_code == 403
    assert row_counts() == before


@pytest.mark.parametrize(
    "code, description", [(403, "Forbidden: bot was blocked by the user"), (400, "Bad Request: chat not found")]
)
def test_a_dead_telegram_chat_is_suppressed_until_a_new_chat_id_arrives(telegram, client, run_jobs, code, description):
    telegram.error(code, description)
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "telegram_chat_id": 1001}))
    run_jobs()
    [suppressed] = db.session.scalars(select(Suppression))
    assert (suppressed.channel, suppressed.address) == ("telegram", "1001") and description in suppressed.reason

    post_and_plan(client, envelope("user.password_reset", {"user_id": "u-1", "reset_url": "https://x.example/r"}))
    run_when_due(run_jobs)
    assert notifications(type="user_password_reset")[0].status.value == "suppressed"
    assert len(telegram.requests) == 1

    post_and_plan(client, envelope("user.profile_updated", {**WELCOME, "telegram_chat_id": 2002}))
    run_when_due(run_jobs)
    assert notifications(type="user_profile_updated")[0].status.value == "sent"
    assert telegram.requests[-1]["json"]["chat_id"] == "2002"


def test_an_address_is_compared_normalised(client, run_jobs, config_overrides):
    from webapp.domain.after_sending import suppressions
    from webapp.models.types import utcnow

    suppressions.add("webhook", "https://hooks.example/x", "test", "test", utcnow())
    assert suppressions.add("email", "Lin@Example.com", "bounced", "test", utcnow())
    assert not suppressions.add("email", "lin@example.COM", "bounced again", "test", utcnow())
    db.session.commit()
    [row] = db.session.scalars(select(Suppression).filter_by(channel="email"))
    assert row.address == "lin@example.com"
    assert db.session.scalar(select(Recipient)) is None


USER_EVENTS = ("user.welcome", "user.profile_updated", "user.password_reset", "user.welcome")


def post_to_hook(client, run_jobs, receiver, event_type: str, n: int) -> None:
    """One account message to u-1, whose webhook is the receiver, sent by the real worker."""
    data = {**WELCOME, "webhook_url": receiver.url, "reset_url": "https://x.example/r"}
    post_and_plan(client, envelope(event_type, data), event_id=f"evt-hook-{n}")
    run_when_due(run_jobs)


@pytest.mark.parametrize("answers, suppressed", [((410, 410, 410), True), ((410, 200, 410, 410), False)])
def test_a_webhook_url_failing_for_good_again_and_again_is_suppressed(client, run_jobs, receiver, answers, suppressed):
    from flask import current_app

    current_app.config["WEBHOOK_SUPPRESS_AFTER"] = 3
    current_app.config["WEBHOOK_CHANNEL_ENABLED"] = True
    for n, status in enumerate(answers):
        receiver.answer(status)
        post_to_hook(client, run_jobs, receiver, USER_EVENTS[n % len(USER_EVENTS)], n)
    listed = db.session.scalars(select(Suppression)).all()
    assert [(row.channel, row.address) for row in listed] == ([("webhook", receiver.url)] if suppressed else [])
    post_to_hook(client, run_jobs, receiver, "user.profile_updated", 99)
    last = max(notifications(), key=lambda row: row.id)
    assert last.status.value == ("suppressed" if suppressed else "sent")
    assert len(receiver.received) == len(answers) + (0 if suppressed else 1)


def test_a_signed_callback_with_a_malformed_error_code_is_400_and_changes_nothing(twilio, client, run_jobs):
    sid, _ = sent_sms(client, run_jobs, twilio)
    before = row_counts()
    answer = post_callback(client, twilio.status_callback(sid, "undelivered", "3" * 40))
    assert answer.status_code == 400 and "ErrorCode" in answer.json["error"]
    assert row_counts() == before


def test_twilios_opt_out_type_is_read_and_an_unknown_one_ignored(twilio, client):
    sms_booking(client)
    url = "http://127.0.0.1:8000/webhooks/twilio/inbound"
    post_callback(client, twilio.reply(url, NUMBER, "arrêtez", opt_out_type="STOP"))
    post_callback(client, twilio.reply(url, NUMBER, "hello", opt_out_type="X" * 300))
    db.session.expire_all()
    assert db.session.scalar(select(Preference.opted_in)) is False
    assert [entry.action for entry in db.session.scalars(select(AuditEntry))] == ["sms_opt_out"]
