"""Checking the shipped message templates: every type, on every channel, in every shipped language."""

from datetime import datetime, timedelta, timezone

from webapp.domain.planning.notification_rows import KNOWN_CHANNELS
from webapp.domain.sending import sms_text
from webapp.domain.sending.templates import rendering
from webapp.domain.sending.templates.rendering import RenderError, render_with
from webapp.models import Booking, BookingStatus, NotificationType, Recipient

TELEGRAM_MAX_TEXT = 4096
SAMPLE_START = datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)  # just after Berlin moved its clocks
SAMPLE_DATA = {
    "payment_id": "pay_123",
    "amount": 1249.5,
    "currency": "EUR",
    "reason": "card declined",
    "reset_url": "https://example.com/reset/abc",
}


def shipped_locales() -> list[str]:
    """The languages with a folder of templates."""
    return sorted(rendering.languages(rendering.TEMPLATE_ROOT))


def sample_context(kind: NotificationType, locale: str, tz: str = "Europe/Berlin") -> dict:
    """Template variables for a made-up client of a made-up booking."""
    client = Recipient(id=1, external_id="client-1", name="Ada Lovelace", timezone=tz, locale=locale)
    expert = Recipient(id=2, external_id="expert-1", name="Grace Hopper", timezone="America/New_York", locale=locale)
    booking = Booking(
        external_id="booking-1",
        client=client,
        client_id=1,
        expert=expert,
        expert_id=2,
        service_name="Code Review",
        starts_at=SAMPLE_START,
        ends_at=SAMPLE_START + timedelta(hours=1),
        status=BookingStatus.ACCEPTED,
    )
    is_booking = kind.value.startswith("booking")
    return {
        "recipient": client,
        "booking": booking if is_booking else None,
        "other": expert if is_booking else None,
        "tz": tz,
        "locale": rendering.text_locale(locale),
        "data": SAMPLE_DATA,
        "notification": None,
    }


def gaps(locales: list[str] | None = None) -> list[str]:
    """Every missing or broken template, named; an empty list means all is well."""
    problems = []
    for locale in locales or shipped_locales():
        for kind in NotificationType:
            problems += missing_files(locale, kind.value)
            for channel in KNOWN_CHANNELS:
                problems += render_problems(locale, kind, channel)
    return problems


def missing_files(locale: str, kind: str) -> list[str]:
    """A language must carry its own subject and body for each type, not borrow the default language's."""
    folder = rendering.TEMPLATE_ROOT / locale / kind
    return [f"{locale}/{kind}: no {name}" for name in ("subject.txt", "default.txt") if not (folder / name).exists()]


def render_problems(locale: str, kind: NotificationType, channel: str) -> list[str]:
    """Render with sample data; report failures and texts too long for the channel."""
    where = f"{locale}/{kind.value} on {channel}"
    try:
        rendered = render_with(kind.value, channel, sample_context(kind, locale))
    except RenderError as error:
        return [f"{where}: {error}"]
    if channel == "sms" and len(rendered.body) > sms_text.MAX_BODY:
        return [f"{where}: {len(rendered.body)} characters, over SMS's {sms_text.MAX_BODY}"]
    if channel == "telegram" and len(rendered.body) > TELEGRAM_MAX_TEXT:
        return [f"{where}: {len(rendered.body)} characters, over Telegram's {TELEGRAM_MAX_TEXT}"]
    return []


def preview(
    kind: NotificationType, channel: str, locale: str, booking: Booking | None = None, party: str = "client"
) -> dict:
    """Render one template as a recipient would get it, with the facts a channel cares about.

    With a booking, the text is rendered for its client or expert, in that person's zone;
    otherwise for made-up sample people.
    """
    values = sample_context(kind, locale)
    if booking is not None:
        recipient = booking.client if party == "client" else booking.expert
        values.update(
            recipient=recipient,
            booking=booking,
            tz=recipient.timezone or "UTC",
            other=booking.expert if party == "client" else booking.client,
        )
    rendered = render_with(kind.value, channel, values)
    facts = {"subject": rendered.subject, "body": rendered.body, "characters": len(rendered.body)}
    if channel == "sms":
        facts.update(
            encoding=sms_text.encoding(rendered.body),
            segments=sms_text.segments(rendered.body),
            limit=sms_text.MAX_BODY,
        )
    if channel == "telegram":
        facts.update(limit=TELEGRAM_MAX_TEXT)
    return facts
