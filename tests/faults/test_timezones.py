"""Processes in New York and Kolkata, events with offsets and in UTC: due times right to the second."""

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.support.factories import booking_payload, envelope, notifications, signed_headers
from tests.support.processes import planner, process_env, start, stop, wait_for, wait_until_ready, web

pytestmark = [pytest.mark.slow, pytest.mark.timing]  # make test-fast leaves it out

# 2027-03-14 is the day New York springs forward (02:00 EST -> 03:00 EDT); India keeps no DST.
STARTS = {
    "offset, before the change": "2027-03-14T01:30:00-05:00",
    "offset, after the change": "2027-03-14T09:30:00-04:00",
    "UTC": "2027-03-14T06:45:00Z",
    "Kolkata offset": "2027-03-14T12:15:00+05:30",
}
EXPECTED_OFFSETS = {
    "booking_24h": timedelta(hours=-24),
    "booking_1h": timedelta(hours=-1),
    "booking_start": timedelta(0),
    "booking_end": timedelta(minutes=55),
}


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_due_times_are_right_whatever_the_processes_zone(client, database_url, redis_url, receiver, tmp_path, zone):
    env = {**process_env(database_url, redis_url), "TZ": zone, "BELLHOP_CHANNELS": ""}
    with web(env, tmp_path / "web.log") as url:
        for n, start_at in enumerate(STARTS.values()):
            body = json.dumps(
                envelope(
                    "booking.created",
                    booking_payload(
                        f"b-{n}",
                        scheduled_time=start_at,
                        duration_minutes=60,
                        client_id=f"c-{n}",
                        expert_id=f"e-{n}",
                        client={"id": f"c-{n}", "timezone": "Asia/Kolkata"},
                        expert={"id": f"e-{n}"},
                    ),
                )
            )
            answer = requests.post(f"{url}/webhooks/events", data=body, headers=signed_headers(body), timeout=10)
            assert answer.status_code == 202, answer.text
        assert planner(env, tmp_path / "planner.log").wait(60) == 0  # planned in the zone too
        for n, start_at in enumerate(STARTS.values()):
            start_utc = datetime.fromisoformat(start_at.replace("Z", "+00:00")).astimezone(timezone.utc)
            rows = [
                row
                for row in notifications()
                if row.booking and row.booking.external_id == f"b-{n}" and row.type.value in EXPECTED_OFFSETS
            ]
            assert len(rows) == 8
            for row in rows:
                assert row.due_at == start_utc + EXPECTED_OFFSETS[row.type.value], (start_at, row.type.value)

        # And a reminder due in a few seconds is sent on time by a scheduler and worker in that zone.
        processes = [start("scheduler", env, tmp_path / "scheduler.log"), start("worker", env, tmp_path / "w.log")]
        try:
            wait_until_ready(redis_url, tmp_path)
            soon = post_soon_booking(url, receiver.url)
            assert wait_for(lambda: any(r["json"]["type"] == "booking_start" for r in receiver.received), 25)
        finally:
            stop(processes)
        [sent] = [r for r in receiver.received if r["json"]["type"] == "booking_start"]
        assert 0 <= sent["at"] - soon.timestamp() < 1.5  # on time, not an offset's worth of hours off


def post_soon_booking(url: str, receiver_url: str) -> datetime:
    """Post a booking starting in 6 s, given with a +05:30 offset; return its start.

    Six seconds leave room for the worker to plan it first (a job of its own since the inbox).
    """
    soon = (datetime.now(timezone.utc) + timedelta(seconds=6)).replace(microsecond=0)
    hook = {"id": "c-soon", "webhook_url": receiver_url, "timezone": "America/New_York"}
    payload = booking_payload(
        "b-soon",
        scheduled_time=soon.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
        client_id="c-soon",
        expert_id="e-soon",
        client=hook,
        expert={"id": "e-soon"},
    )
    body = json.dumps(envelope("booking.created", payload))
    answer = requests.post(f"{url}/webhooks/events", data=body, headers=signed_headers(body), timeout=10)
    assert answer.status_code == 202, answer.text
    return soon
