"""Email bounces and complaints, for messages first delivered through the real email channel."""

import math
import time
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from tests.support import bounces
from tests.support.factories import envelope, notifications, post_and_plan, row_counts
from tests.support.providers import settings_for
from tests.support.signin import sign_in
from webapp.extensions import db
from webapp.models import AuditEntry, DeliveryReport, Notification, Preference, Suppression

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


def sent_email(client, run_jobs, smtp, user_id: str = "u-1") -> tuple[bytes, str, int]:
    """Send a welcome email into the SMTP server; return it raw, its envelope sender, and its row id."""
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "user_id": user_id}))
    run_jobs()
    [row] = [row for row in notifications() if row.recipient.external_id == user_id]
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


def test_a_report_on_a_message_sent_longer_ago_than_its_address_lives_changes_nothing(client, run_jobs, smtp):
    original, sender, notification_id = sent_email(client, run_jobs, smtp)
    row = db.session.get(Notification, notification_id)
    row.sent_at -= timedelta(days=31)  # BELLHOP_BOUNCE_DAYS is 30
    db.session.commit()
    before = row_counts()
    answer = bounce(client, bounces.postfix(original, sender, ADDRESS))
    assert answer.status_code == 200 and answer.json["notification_ids"] == []
    assert row_counts() == before
    row.sent_at += timedelta(days=2)  # 29 days ago: still answerable
    db.session.commit()
    assert bounce(client, bounces.postfix(original, sender, ADDRESS)).json["notification_ids"] == [notification_id]


def nested_mime(depth: int, innermost: bytes) -> bytes:
    """A multipart message with depth levels of multipart/mixed around the innermost message."""
    head = b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n) for n in range(depth))
    tail = b"".join(b"\r\n--b%d--\r\n" % n for n in reversed(range(depth)))
    return b"From: mailer-daemon@example.net\r\nMIME-Version: 1.0\r\n" + head + innermost + tail


def test_a_message_nested_too_deep_to_read_is_400_and_changes_nothing(app, client, run_jobs, smtp):
    original, sender, _ = sent_email(client, run_jobs, smtp)
    deep = nested_mime(2_000, bounces.postfix(original, sender, ADDRESS))
    before = row_counts()
    answer = bounce(client, deep)
    assert answer.status_code == 400 and "nested too deeply" in answer.get_data(as_text=True)
    piped = app.test_cli_runner().invoke(args=["mail", "bounce"], input=deep)
    assert piped.exit_code != 0 and "nested too deeply" in piped.output
    assert row_counts() == before


def reports() -> list[DeliveryReport]:
    db.session.expire_all()
    return list(db.session.scalars(select(DeliveryReport)))


@pytest.mark.parametrize(
    "sample, reason",
    [
        ("lhost-qmail-16", "userunknown"),  # qmail's plain-text failure notice
        ("lhost-v5sendmail-03", "userunknown"),  # Sendmail's "Returned mail", no DSN part
        ("lhost-exim-05", "userunknown"),  # Exim's plain-text notice
        ("lhost-sendmail-14", "userunknown"),
    ],
)
def test_a_dead_address_in_a_real_notice_is_suppressed(client, run_jobs, smtp, sample, reason):
    _, sender, _ = sent_email(client, run_jobs, smtp)
    assert bounce(client, bounces.from_corpus(sample, sender)).json["kind"] == "hard"
    [report] = reports()
    assert (report.state, report.reason) == ("undelivered", reason)
    assert db.session.scalar(select(Suppression.address)) == ADDRESS


@pytest.mark.parametrize(
    "sample, reason",
    [
        ("lhost-exim-01", "blocked"),  # the server blocked us: the address is fine
        ("lhost-exim-08", "expired"),  # Exim gave up retrying
        ("lhost-qmail-24", "mailboxfull"),  # a full mailbox, even with a 5.x.x status
        ("lhost-sendmail-56", "blocked"),
    ],
)
def test_a_failure_that_is_not_the_address_marks_undelivered_and_suppresses_nothing(
    client, run_jobs, smtp, sample, reason
):
    _, sender, _ = sent_email(client, run_jobs, smtp)
    assert bounce(client, bounces.from_corpus(sample, sender)).json["kind"] == "failed"
    [report] = reports()
    assert (report.state, report.reason) == ("undelivered", reason)
    assert notifications()[0].delivery_state == "undelivered"
    assert db.session.scalars(select(Suppression)).all() == []


def test_our_own_authentication_failing_raises_the_alarm_not_a_suppression(app, client, run_jobs, smtp, accounts):
    _, sender, _ = sent_email(client, run_jobs, smtp)
    before = REGISTRY.get_sample_value("bellhop_email_sender_failures_total", {"reason": "authfailure"}) or 0
    assert bounce(client, bounces.from_corpus("lhost-qmail-14", sender)).json["kind"] == "failed"  # DMARC
    assert db.session.scalars(select(Suppression)).all() == []
    after = REGISTRY.get_sample_value("bellhop_email_sender_failures_total", {"reason": "authfailure"})
    assert after == before + 1
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "Mail servers refuse our email: our mail fails SPF, DKIM or DMARC (1 bounces in the last 24 h" in page


def test_a_full_mailbox_suppresses_only_when_repeated_past_the_setting(app, client, run_jobs, smtp):
    app.config.update(SOFT_BOUNCE_LIMIT=3, SOFT_BOUNCE_DAYS=7)
    for attempt in range(3):
        original, sender, _ = sent_email(client, run_jobs, smtp, f"u-{attempt}")
        assert bounce(client, bounces.delayed(original, sender, ADDRESS)).json["kind"] == "soft"
        suppressed = db.session.scalars(select(Suppression)).all()
        assert len(suppressed) == (1 if attempt == 2 else 0)
    assert suppressed[0].reason.startswith("mailboxfull on 3 emails within 7 days")


def test_a_success_report_is_no_bounce_and_changes_nothing(client, run_jobs, smtp):
    original, sender, _ = sent_email(client, run_jobs, smtp)
    before = row_counts()
    assert bounce(client, bounces.relayed(original, sender, ADDRESS)).json["kind"] == "none"
    assert row_counts() == before


def test_a_notice_with_8_bit_headers_is_read_not_a_500(client, run_jobs, smtp):
    _, sender, _ = sent_email(client, run_jobs, smtp)
    notice = (
        f"From: MAILER-DAEMON@mx.example.de\r\nTo: {sender}\r\n".encode()
        + b"Subject: Unzustellbar: R\xfcckmeldung \xe2\x80\x94 \xff\r\n\r\n"
        + b"Die Nachricht konnte nicht zugestellt werden.\r\n"
    )
    answer = bounce(client, notice)
    assert answer.status_code == 200 and answer.json["kind"] in ("failed", "none")
