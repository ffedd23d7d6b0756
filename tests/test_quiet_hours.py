"""Quiet hours in the recipient's zone, across DST changes, and the booking start they never pass."""

from datetime import datetime, timedelta, timezone

import pytest

from tests.support.factories import booking_payload, contact, envelope, notifications, now, post_and_plan, row_counts
from webapp.domain.people import quiet_hours
from webapp.models import Booking, NotificationType, Recipient

T = NotificationType
UTC = timezone.utc


def person(window="22:00-07:00", zone="Europe/Berlin") -> Recipient:
    return Recipient(external_id="p", timezone=zone, quiet_hours=window)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_message_due_inside_waits_for_the_end_in_the_recipients_zone():
    decision = quiet_hours.decide(person(), T.PAYMENT_SUCCESSFUL, at(2026, 6, 10, 21, 30), None)  # 23:30 CEST
    assert decision.due == at(2026, 6, 11, 5, 0)  # 07:00 CEST
    assert decision.note["quiet_hours"].startswith("deferred from 2026-06-10T21:30:00+00:00")


def test_outside_the_window_and_urgent_messages_are_untouched():
    assert quiet_hours.decide(person(), T.PAYMENT_SUCCESSFUL, at(2026, 6, 10, 12), None).due == at(2026, 6, 10, 12)
    booking = Booking(starts_at=at(2026, 6, 10, 23))
    for kind in (T.BOOKING_START, T.BOOKING_END, T.BOOKING_CANCEL, T.USER_PASSWORD_RESET):
        assert quiet_hours.decide(person(), kind, at(2026, 6, 10, 23), booking).due == at(2026, 6, 10, 23)


def test_a_reminder_is_never_deferred_past_the_booking_start():
    booking = Booking(starts_at=at(2026, 6, 11, 5, 30))  # 07:30 CEST; quiet hours end 08:00
    decision = quiet_hours.decide(person("22:00-08:00"), T.BOOKING_1H, at(2026, 6, 11, 4, 30), booking)
    assert decision.due == at(2026, 6, 11, 4, 30)  # sent on time...
    assert decision.note["quiet_hours"].startswith("sent inside quiet hours 22:00-08:00 (Europe/Berlin)")  # ...noted


def test_a_24h_reminder_inside_the_window_waits_but_stays_before_the_start():
    booking = Booking(starts_at=at(2026, 6, 11, 21))  # 23:00 CEST
    decision = quiet_hours.decide(person(), T.BOOKING_24H, booking.starts_at - timedelta(hours=24), booking)
    assert decision.due == at(2026, 6, 11, 5)  # 07:00 CEST, well before the session


@pytest.mark.parametrize(
    "window, zone, due, expected",
    [
        # Berlin springs forward 2026-03-29 02:00 -> 03:00: an end at 02:30 is read as the jump, 03:00 CEST.
        ("22:00-02:30", "Europe/Berlin", at(2026, 3, 28, 23), at(2026, 3, 29, 1)),
        # An end at 07:00 on that day is 07:00 CEST (05:00 UTC), not 06:00 UTC.
        ("22:00-07:00", "Europe/Berlin", at(2026, 3, 28, 23), at(2026, 3, 29, 5)),
        # Berlin falls back 2026-10-25 03:00 -> 02:00: 02:30 happens twice; the first is 00:30 UTC.
        ("00:00-02:30", "Europe/Berlin", at(2026, 10, 24, 22, 30), at(2026, 10, 25, 0, 30)),
        # New York springs forward 2026-03-08: 07:00 EDT is 11:00 UTC (it was 12:00 UTC the day before).
        ("22:00-07:00", "America/New_York", at(2026, 3, 8, 4), at(2026, 3, 8, 11)),
        # New York falls back 2026-11-01: 07:00 EST is 12:00 UTC.
        ("22:00-07:00", "America/New_York", at(2026, 11, 1, 3), at(2026, 11, 1, 12)),
    ],
)
def test_window_ends_follow_dst(window, zone, due, expected):
    assert quiet_hours.decide(person(window, zone), T.USER_WELCOME, due, None).due == expected


@pytest.mark.parametrize("value", ["25:00-07:00", "22:00", "22:00-22:00", "10pm-7am"])
def test_a_malformed_window_is_refused_and_changes_nothing(client, value):
    before = row_counts()
    response = post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "quiet_hours": value}))
    assert response.status_code == 400 and "quiet_hours" in response.get_json()["error"]
    assert row_counts() == before


def test_quiet_hours_from_an_event_defer_a_message_planned_now(client):
    start, end = now() - timedelta(hours=1), now() + timedelta(hours=2)
    window = f"{start:%H:%M}-{end:%H:%M}"  # around now, in UTC
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "timezone": "UTC", "quiet_hours": window}))
    [row] = notifications()
    assert row.status.value == "pending"
    assert row.due_at == end.replace(second=0, microsecond=0)
    assert row.data["quiet_hours"].startswith("deferred from")


def test_an_empty_window_clears_quiet_hours(client):
    window = f"{now() - timedelta(hours=1):%H:%M}-{now() + timedelta(hours=2):%H:%M}"
    post_and_plan(
        client, envelope("user.profile_updated", {"user_id": "u-1", "timezone": "UTC", "quiet_hours": window})
    )
    post_and_plan(client, envelope("user.profile_updated", {"user_id": "u-1", "quiet_hours": ""}))
    rows = notifications()
    assert "quiet_hours" in (rows[0].data or {}) and "quiet_hours" not in (rows[1].data or {})
    assert rows[1].due_at <= now()


def test_booking_reminders_honour_the_window_per_recipient(client):
    start = (now() + timedelta(days=2)).replace(microsecond=0)
    quiet_all_day = f"{(start - timedelta(hours=1, minutes=5)):%H:%M}-{(start - timedelta(minutes=50)):%H:%M}"
    post_and_plan(
        client,
        envelope(
            "booking.created",
            booking_payload(start=start, client=contact("client-1", timezone="UTC", quiet_hours=quiet_all_day)),
        ),
    )
    one_hour = {r.recipient.external_id: r for r in notifications(type="booking_1h")}
    assert one_hour["expert-1"].due_at == start - timedelta(hours=1)  # no quiet hours
    assert one_hour["client-1"].due_at == (start - timedelta(minutes=50)).replace(second=0)  # waited 10 minutes


@pytest.mark.parametrize(
    "latest, expected",
    [
        (at(2026, 6, 10, 6), at(2026, 6, 10, 5)),  # 08:00 CEST: free since 07:00 CEST
        (at(2026, 3, 29, 5, 10), at(2026, 3, 29, 5)),  # the morning the clocks jump: 07:10 CEST, free since 07:00
        (at(2026, 10, 25, 6, 30), at(2026, 10, 25, 6)),  # the morning they fall back: 07:30 CET, free since 07:00
        (at(2026, 6, 10, 21, 30), at(2026, 6, 10, 21, 30)),  # 23:30 CEST, inside: not a second earlier
    ],
)
def test_how_early_a_message_may_leave_stops_at_the_last_window_end(latest, expected):
    assert quiet_hours.quiet_free_since("22:00-07:00", "Europe/Berlin", T.BOOKING_1H, latest) == expected


def test_urgent_messages_and_people_without_quiet_hours_have_no_bound():
    for quiet, kind in (("22:00-07:00", T.BOOKING_START), (None, T.BOOKING_1H)):
        assert quiet_hours.quiet_free_since(quiet, "Europe/Berlin", kind, at(2026, 6, 10, 6)).year == 1
