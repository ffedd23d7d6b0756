"""Email bounces and complaints, for messages first delivered through the real email channel."""

import math
import time

import pytest
from sqlalchemy import select

from tests.support import bounces
from tests.support.factories import envelope, notifications, post_and_plan, row_counts
from tests.support.providers import settings_for
from webapp.extensions import db
from webapp.models import AuditEntry, DeliveryReport, Preference, Suppression

TOKEN = "bounce-token-for-tests-0123456789"
ADDRESS = "lin@example.com"
WELCOME = {"user_id": "u-1", "name": "Lin Chen", "timezone": "Europe/Berlin", "email": ADDRESS}


@pytest.fixture
def config_overrides(smtp):
    return {
        "WEBHOOK_CHANNEL_ENABLED": False,
        **settings_for("smtp", smtp),
        "BOUNCE_TOKEN": TOKEN,
        "BOUNCE_ADDRESS": "bounces@bellhop.example",
    }


def sent_email(client, run_jobs, smtp) -> tuple[bytes, str, int]:
    """Send the welcome email into the SMTP server; return it raw, its envelope sender, and its row id."""
    post_and_plan(client, envelope("user.welcome", WELCOME))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "sent"
    return smtp.raw[-1], smtp.senders[-1], row.id


def bounce(client, message: bytes, token: str = TOKEN):
    return client.post(
        "/webhooks/email/bounce",
        data=message,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"},
    )


def test_each_email_has_a_signed_return_path_of_its_own(client, run_jobs, smtp):
    _, sender, notification_id = sent_email(client, run_jobs, smtp)
    local, domain = sender.split("@")
    assert domain == "bellhop.example" and local.startswith(f"bounces+{notification_id}-")
    assert len(local.rsplit("-", 1)[1]) == 16


@pytest.mark.parametrize("shape", sorted(bounces.SHAPES))
def test_a_hard_bounce_marks_undelivered_and_suppresses_the_address(client, run_jobs, smtp, shape):
    original, sender, notification_id = sent_email(client, run_jobs, smtp)
    answer = bounce(client, bounces.SHAPES[shape](original, sender, ADDRESS))
    assert answer.status_code == 200 and answer.json == {"kind": "hard", "notification_ids": [notification_id]}

    db.session.expire_all()
    [row] = notifications()
    assert row.delivery_state == "undelivered" and "5.1" in row.delivery_detail
    [suppressed] = db.session.scalars(select(Suppression))
    assert (suppressed.channel, suppressed.address) == ("email", ADDRESS)

    # The next email to that address is stopped before it reaches the server.
    post_and_plan(client, envelope("user.password_reset", {"user_id": "u-1", "reset_url": "https://x.example/r"}))
    time.sleep(math.ceil(time.time()) - time.time() + 0.3)  # its wake-up, at the next second
    run_jobs()
    [later] = notifications(type="user_password_reset")
    assert later.status.value == "suppressed" and len(smtp.raw) == 1


def test_a_soft_bounce_is_recorded_and_suppresses_nothing(client, run_jobs, smtp):
    original, sender, notification_id = sent_email(client, run_jobs, smtp)
    assert bounce(client, bounces.delayed(original, sender, ADDRESS)).json["kind"] == "soft"
    db.session.expire_all()
    [report] = db.session.scalars(select(DeliveryReport))
    assert (report.state, report.code) == ("deferred", "4.2.2")
    assert notifications()[0].delivery_state is None
    assert db.session.scalars(select(Suppression)).all() == []


def test_a_complaint_suppresses_email_for_that_person(client, run_jobs, smtp):
    original, sender, notification_id = sent_email(client, run_jobs, smtp)
    assert bounce(client, bounces.complaint(original, sender, ADDRESS)).json["kind"] == "complaint"
    db.session.expire_all()
    [preference] = db.session.scalars(select(Preference))
    assert (preference.channel, preference.opted_in) == ("email", False)
    assert preference.source.startswith("complaint (abuse)")
    assert db.session.scalar(select(Suppression.address)) == ADDRESS
    assert db.session.scalar(select(AuditEntry.action)) == "email_complaint"

    before = row_counts()
    bounce(client, bounces.complaint(original, sender, ADDRESS))  # reported twice: once is enough
    assert row_counts() == before


def test_a_report_without_a_valid_signature_changes_nothing(client, run_jobs, smtp):
    original, sender, notification_id = sent_email(client, run_jobs, smtp)
    forged = sender[: -len("@bellhop.example") - 1] + ("0" if sender[-len("@bellhop.example") - 1] != "0" else "1")
    forged += "@bellhop.example"
    before = row_counts()
    for message in (bounces.postfix(original, forged, ADDRESS), b"Subject: hello\n\nnot a bounce\n"):
        answer = bounce(client, message)
        assert answer.status_code == 200 and answer.json["notification_ids"] == []
    assert row_counts() == before


def test_a_wrong_or_missing_token_is_401_and_changes_nothing(client, run_jobs, smtp):
    original, sender, _ = sent_email(client, run_jobs, smtp)
    before = row_counts()
    assert bounce(client, bounces.postfix(original, sender, ADDRESS), token="wrong").status_code == 401
    assert client.post("/webhooks/email/bounce", data=b"x").status_code == 401
    assert row_counts() == before


def test_flask_mail_bounce_reads_a_message_on_standard_input(app, client, run_jobs, smtp):
    original, sender, notification_id = sent_email(client, run_jobs, smtp)
    result = app.test_cli_runner().invoke(args=["mail", "bounce"], input=bounces.exim(original, sender, ADDRESS))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"hard: notification {notification_id}"
    db.session.expire_all()
    assert notifications()[0].delivery_state == "undelivered"


def test_a_report_with_oversized_fields_is_read_not_a_500(client, run_jobs, smtp):
    original, sender, notification_id = sent_email(client, run_jobs, smtp)
    long = "x" * 300
    hard = bounces.postfix(original, sender, ADDRESS).replace(b"Status: 5.1.1", f"Status: 5.1.1{long}".encode())
    answer = bounce(client, hard)
    assert answer.status_code == 200 and answer.json["kind"] == "hard"
    complaint = bounces.complaint(original, sender, ADDRESS).replace(
        b"Feedback-Type: abuse", f"Feedback-Type: {long}".encode()
    )
    assert bounce(client, complaint).status_code == 200
    db.session.expire_all()
    assert notifications()[0].delivery_state == "undelivered"
    assert db.session.scalar(select(Preference.opted_in)) is False
