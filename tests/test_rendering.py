"""Every notification type renders, on every channel, in each shipped language and the recipient's zone."""

import shutil
from datetime import datetime, timezone

import pytest

from webapp.domain.planning.notification_rows import KNOWN_CHANNELS
from webapp.domain.sending.templates import rendering
from webapp.domain.sending.templates.rendering import render
from webapp.models import Booking, BookingStatus, Notification, NotificationType, Recipient

START = datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)  # 03:30 CEST, just after Berlin moved its clocks
GREETING = {"en": "Hello Ada", "de": "Hallo Ada"}


def sample(kind: NotificationType, channel: str, locale: str | None = "en", tz="Europe/Berlin") -> Notification:
    client = Recipient(external_id="c", name="Ada", timezone=tz, locale=locale)
    expert = Recipient(external_id="e", name="Grace", timezone="America/New_York")
    booking = Booking(
        external_id="b",
        client=client,
        expert=expert,
        service_name="Code Review",
        starts_at=START,
        ends_at=START.replace(hour=2),
        status=BookingStatus.ACCEPTED,
    )
    is_booking = kind.value.startswith("booking")
    return Notification(
        type=kind,
        channel=channel,
        recipient=client,
        booking=booking if is_booking else None,
        data={"payment_id": "p-1", "amount": 1249.5, "currency": "EUR", "reset_url": "https://example.com/r"},
    )


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("channel", KNOWN_CHANNELS)
@pytest.mark.parametrize("kind", list(NotificationType))
def test_every_type_renders_on_every_channel_in_each_language(kind, channel, locale):
    rendered = render(sample(kind, channel, locale))
    assert rendered.subject and "{" not in rendered.subject and "{" not in rendered.body
    if channel != "sms":  # SMS texts skip the greeting to stay within one segment
        assert GREETING[locale] in rendered.body


def test_times_are_shown_in_the_recipients_zone_and_language():
    assert "Sunday, March 29, 2026, 3:30 AM CEST" in render(sample(NotificationType.BOOKING_24H, "email")).body
    assert "Sonntag, 29. März 2026, 03:30 CEST" in render(sample(NotificationType.BOOKING_24H, "email", "de")).body
    assert "9:30 PM EDT" in render(sample(NotificationType.BOOKING_1H, "email", tz="America/New_York")).body


def test_amounts_follow_the_language():
    assert "€1,249.50" in render(sample(NotificationType.PAYMENT_SUCCESSFUL, "email")).body
    assert "1.249,50 €" in render(sample(NotificationType.PAYMENT_SUCCESSFUL, "email", "de")).body


@pytest.mark.parametrize(
    "locale, expected",
    [
        ("de-AT", "Hallo Ada"),  # a regional variant falls back to its language
        ("de_CH", "Hallo Ada"),
        ("fr", "Hello Ada"),  # a language we do not ship falls back to English...
        (None, "Hello Ada"),
    ],
)
def test_locale_falls_back_to_the_language_then_the_default(locale, expected):
    body = render(sample(NotificationType.BOOKING_24H, "email", locale)).body
    assert expected in body
    if locale == "fr":
        assert "Sunday" in body  # ...and so do its dates: no French date inside an English sentence


def test_channel_specific_template_wins_over_the_default():
    email = render(sample(NotificationType.BOOKING_1H, "email")).body
    text = render(sample(NotificationType.BOOKING_1H, "sms")).body
    assert text != email and text.startswith("Code Review starts in 1 hour")


def test_templates_check_passes_for_what_we_ship(app):
    result = app.test_cli_runner().invoke(args=["templates", "check"])
    assert result.exit_code == 0, result.output
    assert "13 types x 5 channels in de, en" in result.output


@pytest.fixture
def template_copy(tmp_path, monkeypatch):
    """A private copy of the templates that a test may break."""
    root = tmp_path / "notifications"
    shutil.copytree(rendering.TEMPLATE_ROOT, root)
    monkeypatch.setattr(rendering, "TEMPLATE_ROOT", root)
    rendering.environment.cache_clear()
    rendering.languages.cache_clear()
    yield root
    rendering.environment.cache_clear()
    rendering.languages.cache_clear()


def test_templates_check_names_a_missing_template(app, template_copy):
    (template_copy / "de" / "booking_1h" / "default.txt").unlink()
    result = app.test_cli_runner().invoke(args=["templates", "check"])
    assert result.exit_code == 1
    assert "de/booking_1h: no default.txt" in result.output


def test_templates_check_names_a_template_that_fails_to_render(app, template_copy):
    (template_copy / "en" / "payment_failed" / "sms.txt").write_text("{{ data.amount|no_such_filter }}")
    result = app.test_cli_runner().invoke(args=["templates", "check"])
    assert result.exit_code == 1
    assert "en/payment_failed on sms" in result.output and "no_such_filter" in result.output


def test_templates_check_names_an_sms_too_long(app, template_copy):
    (template_copy / "en" / "user_welcome" / "sms.txt").write_text("x" * 1601)
    result = app.test_cli_runner().invoke(args=["templates", "check", "--locale", "en"])
    assert result.exit_code == 1
    assert "en/user_welcome on sms: 1601 characters, over SMS's 1600" in result.output


def test_sms_texts_stay_in_the_gsm_alphabet_so_a_segment_holds_160_characters():
    from webapp.domain.sending import sms_text

    for locale in ("en", "de"):
        for kind in NotificationType:
            body = render(sample(kind, "sms", locale)).body
            assert sms_text.encoding(body) == "GSM-7", (locale, kind, body)


def test_preview_shows_sms_segments_for_sample_data(app):
    result = app.test_cli_runner().invoke(
        args=["templates", "preview", "booking_24h", "--channel", "sms", "--locale", "de"]
    )
    assert result.exit_code == 0, result.output
    assert "Erinnerung: Code Review mit Grace Hopper" in result.output
    assert "GSM-7, 1 SMS segment(s) (limit 1600)" in result.output


def test_preview_renders_a_real_booking_for_its_expert_in_their_zone(app, client):
    from tests.support.factories import booking_payload, contact, envelope, post_and_plan

    post_and_plan(
        client,
        envelope(
            "booking.created",
            booking_payload(
                "b-42",
                start=START.replace(year=2030),
                expert=contact("expert-1", name="Grace", timezone="Asia/Kolkata"),
            ),
        ),
    )
    result = app.test_cli_runner().invoke(
        args=["templates", "preview", "booking_1h", "--booking", "b-42", "--for", "expert", "--channel", "telegram"]
    )
    assert result.exit_code == 0, result.output
    assert "Hello Grace" in result.output and "IST" in result.output and "(limit 4096)" in result.output
    missing = app.test_cli_runner().invoke(args=["templates", "preview", "booking_1h", "--booking", "nope"])
    assert missing.exit_code == 1 and "no booking 'nope'" in missing.output
