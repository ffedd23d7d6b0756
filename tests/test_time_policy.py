"""Bellhop's time policy: instants in, elapsed-time reminders, local times only for display.

See docs/channels.md, "Time and daylight saving".
"""

from datetime import datetime, timedelta, timezone

import pytest

from tests.support.factories import booking_payload, contact, envelope, notifications, post_and_plan, row_counts
from webapp.domain.sending.templates.rendering import render

UTC = timezone.utc


def test_a_booking_time_without_an_offset_is_refused(client):
    before = row_counts()
    payload = booking_payload()
    payload["scheduled_time"] = "2026-12-24T09:00:00"  # whose 09:00?
    response = post_and_plan(client, envelope("booking.created", payload))
    assert response.status_code == 400 and "scheduled_time" in response.get_json()["error"]
    assert row_counts() == before


@pytest.mark.parametrize(
    "zone, start, day_before_local",
    [
        # Berlin falls back on 2027-10-31: 24 hours before 09:00 CET is 10:00 CEST the day before.
        ("Europe/Berlin", "2027-10-31T09:00:00+01:00", "2027-10-30 10:00 CEST"),
        # Berlin springs forward on 2027-03-28: 24 hours before 09:00 CEST is 08:00 CET.
        ("Europe/Berlin", "2027-03-28T09:00:00+02:00", "2027-03-27 08:00 CET"),
        # New York falls back on 2027-11-07 and springs forward on 2027-03-14.
        ("America/New_York", "2027-11-07T09:00:00-05:00", "2027-11-06 10:00 EDT"),
        ("America/New_York", "2027-03-14T09:00:00-04:00", "2027-03-13 08:00 EST"),
    ],
)
def test_reminders_across_a_dst_change_keep_elapsed_time(client, zone, start, day_before_local):
    """'Starts in 24 hours' stays true: the reminder moves by an hour on the wall clock, not in time."""
    from zoneinfo import ZoneInfo

    begins = datetime.fromisoformat(start)
    post_and_plan(
        client, envelope("booking.created", booking_payload(start=begins, client=contact("client-1", timezone=zone)))
    )
    [row] = [r for r in notifications(type="booking_24h") if r.recipient.external_id == "client-1"]
    assert row.due_at == begins.astimezone(UTC) - timedelta(hours=24)
    assert row.due_at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z") == day_before_local
    [one_hour] = [r for r in notifications(type="booking_1h") if r.recipient.external_id == "client-1"]
    assert one_hour.due_at == begins.astimezone(UTC) - timedelta(hours=1)


def test_an_offset_that_names_a_skipped_local_time_is_still_one_instant(client):
    """02:30+01:00 on Berlin's spring-forward night never showed on a Berlin clock; the instant is 01:30 UTC."""
    start = datetime.fromisoformat("2027-03-28T02:30:00+01:00")
    berliner = contact("client-1", timezone="Europe/Berlin")
    post_and_plan(client, envelope("booking.created", booking_payload(start=start, client=berliner)))
    [row] = [r for r in notifications(type="booking_start") if r.recipient.external_id == "client-1"]
    assert row.due_at == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert "3:30 AM CEST" in render(row).body  # shown as the Berlin clock read at that instant
