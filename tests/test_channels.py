"""Email, SMS and Telegram through the real pipeline, against loopback stand-ins for the providers."""

import math
import time
from datetime import timedelta
from email.utils import getaddresses

import pytest
from sqlalchemy import select

from tests.support.factories import booking_payload, contact, envelope, notifications, now, post_and_plan
from tests.support.providers import SmtpServer, Twilio, settings_for
from webapp.domain.sending import sms_text
from webapp.extensions import db
from webapp.models import DeliveryAttempt

WELCOME = {"user_id": "u-1", "name": "Lin Chen", "timezone": "Europe/Berlin"}


@pytest.fixture
def config_overrides(request):
    overrides = {
        "CHANNELS": [],
        "WEBHOOK_CHANNEL_ENABLED": False,
        "RETRY_BASE_SECONDS": 1,
        "SMTP_TIMEOUT_SECONDS": 2.0,
        "SMS_TIMEOUT_SECONDS": 1.0,
        "TELEGRAM_TIMEOUT_SECONDS": 1.0,
    }
    for name in ("smtp", "twilio", "telegram"):
        if name in request.fixturenames:
            server = request.getfixturevalue(name)
            overrides.update(settings_for(name, server))
    return overrides


def run_when_due(run_jobs) -> None:
    """Wait for the wake-up of a message posted this second, then run the jobs.

    The first run of a test also runs the sweep, which dispatches whatever is due; later
    runs rely on the message's own wake-up, as production does.
    """
    time.sleep(math.ceil(time.time()) - time.time() + 0.3)
    run_jobs()


def attempts() -> list[DeliveryAttempt]:
    return list(db.session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


def assert_retry_pending(seconds_at_least: float) -> None:
    [row] = notifications()
    assert row.status.value == "pending"
    assert row.due_at >= row.updated_at + timedelta(seconds=seconds_at_least) - timedelta(milliseconds=50)


# --- email


def test_email_is_multipart_text_and_html_with_a_message_id(client, run_jobs, smtp):
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
    run_jobs()
    [message] = smtp.messages
    assert message["To"] == "Lin Chen <lin@example.com>"
    assert message["Subject"] == "Welcome to Hire an Expert"
    message_id = message["Message-ID"].strip()
    [row] = notifications()
    assert message_id.startswith("<") and message_id.endswith(f".bellhop-notification-{row.id}@bellhop.local>")
    assert message.get_content_type() == "multipart/alternative"
    text, html = (part.get_content() for part in message.iter_parts())
    assert "Lin Chen" in text and "<p>" in html and "Lin Chen" in html
    assert row.status.value == "sent"
    assert attempts()[0].response_summary == f"SMTP accepted {message_id}"


EMAIL_HEADERS = [
    "Auto-Submitted",
    "Content-Type",
    "Date",
    "From",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Message-ID",
    "Subject",
    "To",
]
# Accepted values (no control characters) that would break a hand-built header: address lists, quotes,
# brackets and comments, non-Latin scripts, a length that needs folding; each with what a reader shows.
NASTY_NAMES = {
    "Eve <eve@evil.example>, Mallory <m@evil.example>": None,
    '"Quoted" \\ back\\slash; semi: colon': None,
    "Zoë 李 ✨ عربى (comment) <>": None,
    "Lorem ipsum " * 16: None,
    # An RFC 2047 encoded word is decoded by every reader (Python's included), but stays one display name.
    "=?utf-8?q?Bcc=3A_eve=40evil.example?=": "Bcc: eve@evil.example",
}


def words(text: str) -> str:
    return " ".join(text.split())  # folding may turn runs of spaces into one


@pytest.mark.parametrize("nasty", NASTY_NAMES)
def test_no_accepted_value_breaks_an_email_header(client, run_jobs, smtp, nasty):
    expert = contact("expert-1", name=nasty, email="expert@example.com")
    booking = booking_payload("b-nasty", expert=expert, service_name=nasty)
    assert post_and_plan(client, envelope("booking.created", booking)).status_code == 202
    run_jobs()
    [message] = smtp.messages
    assert sorted(message.keys()) == sorted(EMAIL_HEADERS)  # nothing added, nothing repeated
    [(name, address)] = getaddresses(message.get_all("To"))
    shown = NASTY_NAMES[nasty] or nasty
    assert address == "expert@example.com" and words(name) == words(shown)
    assert words(str(message["Subject"])) == words(f"New booking request: {shown}")
    assert smtp.recipients == [["expert@example.com"]]  # the envelope went to the one address


def test_email_batch_reuses_one_smtp_connection(app, client, run_jobs, smtp):
    for n in range(3):
        post_and_plan(client, envelope("user.welcome", {**WELCOME, "user_id": f"u-{n}", "email": f"u{n}@example.com"}))
    run_jobs()
    assert len(smtp.messages) == 3
    assert len(set(smtp.peers)) == 1  # one client connection, so one client port


def test_smtp_4xx_is_retried_and_5xx_fails_at_once(client, run_jobs, smtp):
    smtp.refuse_next("450 4.2.1 Mailbox busy, try later")
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
    run_jobs()
    assert_retry_pending(0.5)
    assert notifications()[0].last_error == "SMTP 450: 4.2.1 Mailbox busy, try later"

    smtp.refuse_next("550 5.1.1 No such user")
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "user_id": "u-2", "email": "nobody@example.com"}))
    run_when_due(run_jobs)
    failed = notifications(status="failed")
    assert [row.last_error for row in failed] == ["permanent: SMTP 550: 5.1.1 No such user"]


def test_unreachable_smtp_server_is_transient(app, client, run_jobs):
    from tests.support.services import free_port

    app.config.update(CHANNELS=["email"], SMTP_PORT=free_port())  # nothing listens there
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "pending" and row.last_error.startswith("SMTP connection failed")


# --- SMS


def test_sms_goes_through_twilio_with_basic_auth_and_records_segments(client, run_jobs, twilio):
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "phone": "+4915112345678"}))
    run_jobs()
    [request] = twilio.requests
    assert request["form"]["To"] == "+4915112345678" and request["form"]["From"] == Twilio.FROM
    assert request["form"]["Body"].startswith("Welcome to Hire an Expert")
    [row] = notifications()
    assert row.status.value == "sent"
    summary = attempts()[0].response_summary
    assert summary.startswith("twilio SM") and summary.endswith(f"segments={sms_text.segments(row.body)}")


def test_a_number_without_a_country_code_is_refused_at_the_door(client, run_jobs, twilio):
    answer = post_and_plan(client, envelope("user.welcome", {**WELCOME, "phone": "0151 1234 5678"}))
    assert answer.status_code == 400
    assert answer.json["error"].startswith("payload.phone: '0151 1234 5678' has no country code")
    assert notifications() == [] and twilio.requests == []


def test_with_a_default_region_a_national_number_is_kept_in_e164(app, client, run_jobs, twilio):
    app.config["DEFAULT_PHONE_REGION"] = "DE"
    assert post_and_plan(client, envelope("user.welcome", {**WELCOME, "phone": "0151 1234 5678"})).status_code == 202
    run_jobs()
    assert [request["form"]["To"] for request in twilio.requests] == ["+4915112345678"]


@pytest.mark.parametrize(
    "field, value",
    [("phone", "+49 151"), ("phone", "call me"), ("email", "lin@"), ("email", "lin@localhost"), ("email", "a b@x.io")],
)
def test_contacts_are_checked_by_one_rule_at_the_door(client, twilio, field, value):
    answer = post_and_plan(
        client, envelope("booking.created", booking_payload(client=contact("client-1", **{field: value})))
    )
    assert answer.status_code == 400 and answer.json["error"].startswith(f"payload.client.{field}: ")
    assert notifications() == []


def test_twilio_invalid_number_is_permanent(client, run_jobs, twilio):
    twilio.error(400, 21211, "The 'To' number +15005550001 is not a valid phone number.")
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "phone": "+15005550001"}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "failed"
    assert "unreachable number: Twilio 21211" in row.last_error


def test_twilio_429_waits_for_retry_after_and_5xx_is_transient(client, run_jobs, twilio):
    twilio.error(429, 20429, "Too Many Requests", {"Retry-After": "3"})
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "phone": "+4915112345678"}))
    run_jobs()
    assert_retry_pending(3)
    assert notifications()[0].last_error == "Twilio 20429: Too Many Requests"


def test_twilio_server_error_is_transient(client, run_jobs, twilio):
    twilio.error(503, 20503, "Service Unavailable")
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "phone": "+4915112345678"}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "pending" and row.last_error == "Twilio 20503: Service Unavailable"


def test_twilio_slower_than_the_timeout_is_transient(client, run_jobs, twilio):
    twilio.answer(201, {}, delay=1.5)  # past SMS_TIMEOUT_SECONDS
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "phone": "+4915112345678"}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "pending" and row.last_error == "timed out"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("€" * 81, 2),  # € is in GSM's extension table: two septets each
        ("ü" * 160, 1),  # in the basic GSM alphabet
        ("ł" * 70, 1),
        ("ł" * 71, 2),
        ("ł" * 134, 2),
        ("ł" * 135, 3),  # forces UCS-2
        ("😀" * 35, 1),
        ("😀" * 36, 2),  # two UTF-16 units each
    ],
)
def test_sms_segments(text, expected):
    assert sms_text.segments(text) == expected


@pytest.mark.parametrize(
    "number, valid",
    [
        ("+4915112345678", True),
        ("+15005550006", True),
        ("4915112345678", False),
        ("+0123456789", False),
        ("+49 151 1234", False),
        ("", False),
        (None, False),
        ("+1234567890123456", False),
    ],
)
def test_e164(number, valid):
    assert sms_text.is_e164(number) is valid


# --- Telegram


def test_telegram_send_message_to_the_recipients_chat(client, run_jobs, telegram):
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "telegram_chat_id": "424242"}))
    run_jobs()
    [request] = telegram.requests
    assert request["json"]["chat_id"] == "424242" and "Lin Chen" in request["json"]["text"]
    assert notifications()[0].status.value == "sent"
    assert attempts()[0].response_summary == "telegram message 1"


def test_telegram_429_honours_retry_after_from_the_body(client, run_jobs, telegram):
    telegram.error(429, "Too Many Requests: retry after 4", retry_after=4)
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "telegram_chat_id": "424242"}))
    run_jobs()
    assert_retry_pending(4)
    assert notifications()[0].last_error == "Telegram 429: Too Many Requests: retry after 4"


def test_telegram_blocked_or_unknown_chat_is_permanent(client, run_jobs, telegram):
    telegram.error(403, "Forbidden: bot was blocked by the user")
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "telegram_chat_id": "424242"}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "failed"
    assert row.last_error == "permanent: Telegram 403: Forbidden: bot was blocked by the user"


def test_channel_without_credentials_fails_visibly(app, client, run_jobs):
    app.config.update(CHANNELS=["telegram"], TELEGRAM_BOT_TOKEN=None)
    post_and_plan(client, envelope("user.welcome", {**WELCOME, "telegram_chat_id": "424242"}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "failed" and "TELEGRAM_BOT_TOKEN" in row.last_error
    assert row.updated_at <= now()


SECURE_USERS = {"bellhop": "s3cret"}


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_over_tls_with_a_login(app, client, run_jobs, certificate, security):
    server = SmtpServer(security, certificate, SECURE_USERS)
    try:
        app.config.update(
            CHANNELS=["email"],
            SMTP_PORT=server.port,
            SMTP_SECURITY=security,
            SMTP_CA_FILE=certificate[0],
            SMTP_USERNAME="bellhop",
            SMTP_PASSWORD="s3cret",
        )
        post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
        run_jobs()
        assert server.sessions == [{"tls": True, "authenticated": True}]
        assert notifications()[0].status.value == "sent"
    finally:
        server.stop()


def test_email_with_a_wrong_password_fails_with_the_servers_answer(app, client, run_jobs, certificate):
    server = SmtpServer("starttls", certificate, SECURE_USERS)
    try:
        app.config.update(
            CHANNELS=["email"],
            SMTP_PORT=server.port,
            SMTP_SECURITY="starttls",
            SMTP_CA_FILE=certificate[0],
            SMTP_USERNAME="bellhop",
            SMTP_PASSWORD="wrong",
        )
        post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
        run_jobs()
        [row] = notifications()
        assert row.status.value == "failed" and row.last_error.startswith("permanent: SMTP 535")
        assert server.messages == []
    finally:
        server.stop()


def test_email_refuses_a_server_whose_certificate_it_cannot_verify(app, client, run_jobs, certificate):
    server = SmtpServer("starttls", certificate)
    try:
        app.config.update(CHANNELS=["email"], SMTP_PORT=server.port, SMTP_SECURITY="starttls", SMTP_CA_FILE=None)
        post_and_plan(client, envelope("user.welcome", {**WELCOME, "email": "lin@example.com"}))
        run_jobs()
        [row] = notifications()
        assert row.status.value == "pending" and "CERTIFICATE_VERIFY_FAILED" in row.last_error
        assert server.messages == []
    finally:
        server.stop()
