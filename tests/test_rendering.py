"""Every notification type renders, on every channel, in the recipient's timezone."""

from datetime import datetime, timezone

import pytest

from webapp.domain.rendering import render
from webapp.models import Booking, BookingStatus, Notification, NotificationType, Recipient

START = datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)  # 03:30 CEST, just after Berlin moved its clocks


def sample(kind: NotificationType, channel: str) -> Notification:
    client = Recipient(external_id="c", name="Ada", timezone="Europe/Berlin")
    expert = Recipient(external_id="e", name="Grace", timezone="America/New_York")
    booking = Booking(external_id="b", client=client, expert=expert, service_name="Code Review",
                      starts_at=START, ends_at=START.replace(hour=1), status=BookingStatus.ACCEPTED)
    is_booking = kind.value.startswith("booking")
    return Notification(type=kind, channel=channel, recipient=client, booking=booking if is_booking else None,
                        data={"payment_id": "p-1", "amount": 49.0, "currency": "EUR",
                              "reset_url": "https://example.com/r"})


@pytest.mark.parametrize("channel", ["log", "webhook"])
@pytest.mark.parametrize("kind", list(NotificationType))
def test_every_type_renders(kind, channel):
    rendered = render(sample(kind, channel))
    assert rendered.subject and "{" not in rendered.subject
    assert "Hello Ada" in rendered.body


def test_times_are_shown_in_the_recipients_zone():
    body = render(sample(NotificationType.BOOKING_24H, "log")).body
    assert "03:30 CEST" in body
