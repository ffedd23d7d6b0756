"""Duplicates and disorder: the same event 100 times at once, and events arriving out of order."""

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests

from tests.support.factories import (
    booking_payload,
    envelope,
    last_outcome,
    notifications,
    now,
    plan,
    post_and_plan,
    row_counts,
    signed_headers,
)
from webapp.extensions import db
from webapp.models import Booking

REMINDERS = {"booking_24h", "booking_1h", "booking_start", "booking_end"}


def test_the_same_event_posted_100_times_at_once_is_applied_once(client, web_server):  # noqa: F811
    body = json.dumps(envelope("booking.created", booking_payload()))
    headers = {**signed_headers(body, event_id="evt-hundred"), "Content-Type": "application/json"}

    def send(_):
        return requests.post(f"{web_server}/webhooks/events", data=body, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(100) as pool:
        codes = list(pool.map(send, range(100)))
    assert all(200 <= code < 300 for code in codes) and codes.count(202) == 1
    plan()
    counts = row_counts()
    assert counts["inbound_events"] == 1 and counts["bookings"] == 1 and counts["notifications"] == 9


def test_cancel_before_create_and_reschedule_after_cancel_leave_it_cancelled_and_silent(client, run_jobs, receiver):
    hook = {"id": "client-1", "webhook_url": receiver.url, "timezone": "Europe/Berlin"}
    start = (now() + timedelta(seconds=2)).replace(microsecond=0)
    created = envelope("booking.created", booking_payload(start=start, client=hook), at=now() - timedelta(minutes=2))
    cancelled = envelope("booking.cancelled", {"booking_id": "b-1"}, at=now() - timedelta(minutes=1))
    moved = envelope(
        "booking.rescheduled",
        {"booking_id": "b-1", "scheduled_time": start.isoformat()},
        at=now() - timedelta(seconds=90),
    )  # older than the cancel, arriving after it
    for event in (cancelled, created, moved):
        assert post_and_plan(client, event).status_code == 202
    db.session.expire_all()
    assert db.session.query(Booking).one().status.value == "cancelled"
    time.sleep(math.ceil((start - now()).total_seconds()) + 0.5)
    run_jobs()
    sent_types = {request["json"]["type"] for request in receiver.received}
    assert not sent_types & REMINDERS  # nothing reminds anyone of a cancelled session
    assert {row.type.value for row in notifications() if row.status.value != "cancelled"} <= {"booking_cancel"}


def test_a_reschedule_older_than_the_last_one_applied_does_not_move_the_booking(client):
    first = (now() + timedelta(days=2)).replace(microsecond=0)
    later, earlier = first + timedelta(days=1), first + timedelta(hours=5)
    post_and_plan(client, envelope("booking.created", booking_payload(start=first), at=now() - timedelta(minutes=3)))
    post_and_plan(
        client,
        envelope(
            "booking.rescheduled",
            {"booking_id": "b-1", "scheduled_time": later.isoformat()},
            at=now() - timedelta(minutes=1),
        ),
    )
    stale = post_and_plan(
        client,
        envelope(
            "booking.rescheduled",
            {"booking_id": "b-1", "scheduled_time": earlier.isoformat()},
            at=now() - timedelta(minutes=2),
        ),
    )
    assert stale.status_code == 202 and last_outcome() == "stale"
    db.session.expire_all()
    assert db.session.query(Booking).one().starts_at == later  # the newest event's time wins
    pending = {
        row.booking_starts_at
        for row in notifications()
        if row.type.value in REMINDERS and row.status.value == "pending"
    }
    assert pending == {later}
