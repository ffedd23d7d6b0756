"""Fallback to the next channel when the first fails for good, ends undelivered, or is suppressed."""

import math
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text, update

from tests.support.factories import booking_payload, contact, envelope, notifications, now, post_and_plan, row_counts
from tests.support.processes import wait_for
from tests.support.providers import post_callback, settings_for
from webapp.domain.after_sending import fallbacks, suppressions
from webapp.domain.after_sending.fallbacks import LATE_RECEIPT
from webapp.extensions import db
from webapp.models import Booking, Notification
from webapp.models.types import utcnow

NUMBER = "+4915112345678"
WELCOME = {"user_id": "u-1", "name": "Lin Chen", "timezone": "Europe/Berlin", "phone": NUMBER}


@pytest.fixture
def config_overrides(twilio, smtp):
    return {
        "WEBHOOK_CHANNEL_ENABLED": False,
        **settings_for("smtp", smtp),
        **settings_for("twilio", twilio),
        "CHANNELS": ["sms", "email"],
        "FALLBACKS": {"user_welcome": ["sms", "email"], "booking_1h": ["sms", "email"]},
    }


def run_when_due(run_jobs) -> None:
    """Wait for the wake-up of a message planned this second, then run the jobs."""
    time.sleep(math.ceil(time.time()) - time.time() + 0.3)
    run_jobs()


def by_channel(kind: str = "user_welcome") -> dict[str, Notification]:
    return {row.channel: row for row in notifications(type=kind)}


def test_only_the_first_reachable_channel_is_planned(client):
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
    assert list(by_channel()) == ["sms"]
    post_and_plan(
        client, envelope("user.welcome", {**WELCOME, "user_id": "u-2", "phone": None, "email": "u2@example.com"})
    )
    assert [row.channel for row in notifications() if row.recipient.external_id == "u-2"] == ["email"]


def test_a_permanent_failure_falls_back_to_email(client, run_jobs, twilio, smtp):
    twilio.error(400, 21211, "The 'To' number is not a valid phone number.")
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
    run_jobs()
    rows = by_channel()
    assert rows["sms"].status.value == "failed"
    assert rows["email"].replaces_id == rows["sms"].id
    run_when_due(run_jobs)
    assert by_channel()["email"].status.value == "sent" and len(smtp.raw) == 1


def test_an_undelivered_receipt_falls_back(client, run_jobs, twilio, smtp):
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
    run_jobs()
    sms = by_channel()["sms"]
    post_callback(client, twilio.status_callback(sms.provider_ref, "undelivered", "30003"))
    db.session.expire_all()
    assert by_channel()["email"].replaces_id == sms.id
    run_when_due(run_jobs)
    assert by_channel()["email"].status.value == "sent"


def test_a_signed_status_report_naming_the_email_it_fell_back_to_changes_nothing(app, client, run_jobs, twilio, smtp):
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
    run_jobs()
    sms = by_channel()["sms"]
    post_callback(client, twilio.status_callback(sms.provider_ref, "undelivered", "30003"))
    run_when_due(run_jobs)
    email = by_channel()["email"]
    assert email.status.value == "sent"
    # Signed by Twilio for this deployment's URL, but naming the email: a dead-number code must not touch it.
    url = f"{app.config['PUBLIC_URL']}/webhooks/twilio/status?notification={email.id}"
    aimed = twilio.signed(url, twilio.status_callback(sms.provider_ref, "undelivered", "30005")["form"])
    before = row_counts()
    answer = post_callback(client, aimed)
    assert answer.status_code == 200 and answer.json["status"] == "unknown"
    assert row_counts() == before
    db.session.expire_all()
    assert by_channel()["email"].delivery_state is None


def test_a_suppressed_number_falls_back(client, run_jobs, twilio, smtp):
    suppressions.add("sms", NUMBER, "replied STOP elsewhere", "test", utcnow())
    db.session.commit()
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
    run_jobs()
    rows = by_channel()
    assert rows["sms"].status.value == "suppressed" and rows["email"].replaces_id == rows["sms"].id
    run_when_due(run_jobs)
    assert by_channel()["email"].status.value == "sent" and twilio.requests == []


def test_no_fallback_without_another_reachable_channel(client, run_jobs, twilio):
    twilio.error(400, 21211, "The 'To' number is not a valid phone number.")
    post_and_plan(client, envelope("user.welcome", WELCOME))
    run_jobs()
    assert list(by_channel()) == ["sms"] and by_channel()["sms"].status.value == "failed"


def one_hour_reminder_sent(client, run_jobs) -> Notification:
    """A booking's 1 h SMS reminder, brought forward to now and sent."""
    person = contact("client-1", phone=NUMBER, email="client@example.com")
    post_and_plan(client, envelope("booking.created", booking_payload(client=person, expert=contact("expert-1"))))
    [reminder] = [row for row in notifications(type="booking_1h") if row.recipient.external_id == "client-1"]
    db.session.execute(update(Notification).where(Notification.id == reminder.id).values(due_at=utcnow()))
    db.session.commit()
    run_jobs()
    db.session.refresh(reminder)
    assert (reminder.channel, reminder.status.value) == ("sms", "sent")
    return reminder


def test_no_fallback_once_the_reminder_is_no_longer_useful(client, run_jobs, twilio):
    reminder = one_hour_reminder_sent(client, run_jobs)
    started = now() - timedelta(minutes=1)  # the session began before the receipt came
    db.session.execute(update(Booking).where(Booking.id == reminder.booking_id).values(starts_at=started))
    db.session.commit()
    post_callback(client, twilio.status_callback(reminder.provider_ref, "undelivered", "30003"))
    db.session.expire_all()
    assert [row.channel for row in notifications(type="booking_1h") if row.recipient_id == reminder.recipient_id] == [
        "sms"
    ]


def test_a_late_delivered_receipt_cancels_the_fallback_not_yet_sent(client, run_jobs, twilio):
    reminder = one_hour_reminder_sent(client, run_jobs)
    post_callback(client, twilio.status_callback(reminder.provider_ref, "undelivered", "30003"))
    db.session.expire_all()
    [fallback] = [row for row in notifications(type="booking_1h") if row.replaces_id == reminder.id]
    assert (fallback.channel, fallback.status.value) == ("email", "pending")

    post_callback(client, twilio.status_callback(reminder.provider_ref, "delivered"))
    db.session.expire_all()
    db.session.refresh(fallback)
    assert (fallback.status.value, fallback.last_error) == ("cancelled", LATE_RECEIPT)
    assert db.session.get(Notification, reminder.id).delivery_state == "delivered"


def test_a_fallback_waits_for_the_persons_quiet_hours(client, run_jobs, twilio):
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "timezone": "UTC", "email": "lin@example.com"}))
    run_jobs()
    sms = by_channel()["sms"]
    start, end = now() - timedelta(hours=1), now() + timedelta(hours=1)
    quiet = {"user_id": "u-1", "timezone": "UTC", "quiet_hours": f"{start:%H:%M}-{end:%H:%M}"}
    post_and_plan(client, envelope("user.profile_updated", quiet))
    post_callback(client, twilio.status_callback(sms.provider_ref, "undelivered", "30003"))
    db.session.expire_all()
    email = by_channel()["email"]
    assert email.replaces_id == sms.id and email.status.value == "pending"
    assert email.due_at == end.replace(second=0, microsecond=0)
    assert email.data["quiet_hours"].startswith("deferred from")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite lets one writer in at a time
def test_two_reports_of_one_failure_at_once_plan_one_fallback(app, client, run_jobs):
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
    run_jobs()
    sms_id = by_channel()["sms"].id
    first_inserted, errors = threading.Event(), []

    def report(hold_open: bool) -> None:
        with app.app_context():
            try:
                fallbacks.plan_after([sms_id], utcnow())
                if hold_open:  # commit only once the other report waits on the same key
                    first_inserted.set()
                    assert wait_for(waiting_on_a_lock, 10)
                db.session.commit()
            except Exception as error:  # noqa: BLE001 -- the test reports whatever either transaction raised
                errors.append(error)
                first_inserted.set()

    first = threading.Thread(target=report, args=(True,))
    first.start()
    assert first_inserted.wait(10)
    second = threading.Thread(target=report, args=(False,))
    second.start()
    for thread in (first, second):
        thread.join(20)
    assert errors == []
    db.session.expire_all()
    assert [row.replaces_id for row in notifications() if row.channel == "email"] == [sms_id]


def waiting_on_a_lock() -> bool:
    """Whether some other connection to this database waits on a lock (the second report's insert)."""
    with db.engine.connect() as connection:
        statement = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return connection.scalar(statement) > 0
