"""A cluster that a channel's rate cannot send on time starts early, inside each type's tolerance."""

import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from tests.support.factories import booking_payload, contact, envelope, notifications, now, post_and_plan, this_second
from webapp.domain.sending.send_early import Window, assign, due_time
from webapp.extensions import db
from webapp.models import StatusChange
from workers.jobs import sweep


@pytest.fixture
def config_overrides():
    # The log channel at 2 a second packs one message a second (90 % of the rate, rounded down).
    return {"PROVIDER_RATES": {"log": 2}, "SEND_EARLY_SECONDS": {"booking_1h": 600}}


def book(client, count: int, start, prefix="b") -> None:
    """Book count sessions starting at start, each with its own client and expert."""
    for n in range(count):
        payload = booking_payload(
            f"{prefix}-{n}",
            start=start,
            client_id=f"c-{prefix}-{n}",
            expert_id=f"e-{prefix}-{n}",
            client=contact(f"c-{prefix}-{n}"),
            expert=contact(f"e-{prefix}-{n}"),
        )
        post_and_plan(client, envelope("booking.created", payload))


def one_hour_reminders() -> list:
    return notifications(type="booking_1h")


@pytest.mark.timing  # its messages fall due seconds after it books them
def test_a_cluster_the_rate_cannot_send_on_time_leaves_early_and_none_is_late(app, client, run_jobs):
    # Far enough ahead that the confirmations, due now on the same channel, are sent first.
    due = this_second() + timedelta(seconds=20)
    book(client, 4, due + timedelta(hours=1))  # eight 1 h reminders due in one second, one may go a second
    assert sweep()["moved_early"] == 7
    rows = one_hour_reminders()
    assert Counter(row.due_at for row in rows) == {due - timedelta(seconds=n): 1 for n in range(8)}
    assert {row.scheduled_at for row in rows} == {due}  # the planned time stays, for the record
    deadline = time.monotonic() + 30
    while {row.status.value for row in one_hour_reminders()} != {"sent"} and time.monotonic() < deadline:
        run_jobs()
        time.sleep(0.3)
    rows = one_hour_reminders()
    assert {row.status.value for row in rows} == {"sent"}
    assert all(row.sent_at <= row.scheduled_at + timedelta(seconds=1) for row in rows)  # none late
    assert all(row.sent_at >= row.scheduled_at - timedelta(seconds=600) for row in rows)  # none too early
    assert {row.attempts for row in rows} == {1}
    early = REGISTRY.get_sample_value("bellhop_sent_early_seconds_count", {"channel": "log"})
    assert early and early >= 6


def test_each_early_message_says_why_and_when_it_leaves(app, client):
    due = this_second() + timedelta(minutes=5)
    book(client, 2, due + timedelta(hours=1))
    sweep()
    moved = [row for row in one_hour_reminders() if row.due_at < row.scheduled_at]
    assert len(moved) == 3
    for row in moved:
        [change] = db.session.scalars(select(StatusChange).filter_by(notification_id=row.id))
        assert change.reason == f"to leave early, at {row.due_at:%H:%M:%S} UTC: log is limited to 2 messages a second"
        assert change.status.value == "pending"


def test_a_start_reminder_never_leaves_early(app, client):
    book(client, 5, this_second() + timedelta(minutes=3))
    assert sweep()["moved_early"] == 0
    starts = notifications(type="booking_start")
    assert len(starts) == 10 and all(row.due_at == row.scheduled_at for row in starts)


def test_without_a_tolerance_a_cluster_keeps_its_time(app, client):
    app.config["SEND_EARLY_SECONDS"] = {}
    book(client, 5, this_second() + timedelta(hours=1, minutes=3))
    assert sweep()["moved_early"] == 0
    assert all(row.due_at == row.scheduled_at for row in one_hour_reminders())


@pytest.mark.timing  # its messages fall due seconds after it books them
def test_what_does_not_fit_the_tolerance_keeps_its_time_and_waits_for_the_rate(app, client):
    app.config["SEND_EARLY_SECONDS"] = {"booking_1h": 3}
    due = this_second() + timedelta(seconds=10)  # the sweep looks as far ahead as the longest tolerance
    book(client, 5, due + timedelta(hours=1))  # ten reminders, room for four in the 3 s before their time
    sweep()
    rows = one_hour_reminders()
    assert sorted(due - row.due_at for row in rows if row.due_at < due) == [timedelta(seconds=n) for n in (1, 2, 3)]
    assert sum(row.due_at == due for row in rows) == 7  # one on time, six that the throttle will send late


def test_a_cluster_that_shrinks_moves_back_towards_its_time(app, client):
    due = this_second() + timedelta(minutes=5)
    book(client, 5, due + timedelta(hours=1))
    sweep()
    assert min(row.due_at for row in one_hour_reminders()) == due - timedelta(seconds=9)
    for n in range(3):
        post_and_plan(client, envelope("booking.cancelled", {"booking_id": f"b-{n}"}))
    assert sweep()["moved_early"] >= 1  # the four left need only the last four seconds
    pending = [row for row in one_hour_reminders() if row.status.value == "pending"]
    assert sorted(due - row.due_at for row in pending) == [timedelta(seconds=n) for n in range(4)]
    reasons = {change.reason for change in db.session.scalars(select(StatusChange))}
    assert "back towards its time: fewer messages now share the rate" in reasons


@pytest.mark.timing  # its messages fall due seconds after it books them
def test_messages_already_due_keep_the_first_seconds(app, client):
    due = this_second() + timedelta(seconds=8)
    book(client, 4, due + timedelta(hours=1))  # eight reminders that could fill the eight seconds before due
    backlog = [row for row in notifications(status="pending") if row.due_at <= now()]
    assert len(backlog) >= 4  # the confirmations, due now on the same channel, will take the first seconds
    swept_at = this_second()
    sweep()
    early = [row.due_at for row in one_hour_reminders() if row.due_at < due]
    # This second sends one of them (the rate packs one a second); the rest take one second each after it.
    assert early and min(early) >= swept_at + timedelta(seconds=1 + len(backlog) - 1)
    assert sum(row.due_at == due for row in one_hour_reminders()) > 1  # the rest wait for the rate


def test_a_message_never_leaves_early_into_its_recipients_quiet_hours(app, client):
    due = this_second().replace(second=0) + timedelta(minutes=3)  # a minute's edge: quiet hours end there
    quiet = f"{due - timedelta(hours=2):%H:%M}-{due:%H:%M}"
    for n in range(3):  # quiet clients and experts
        person = {"timezone": "UTC", "quiet_hours": quiet}
        payload = booking_payload(
            f"q-{n}",
            start=due + timedelta(hours=1),
            client_id=f"qc-{n}",
            expert_id=f"qe-{n}",
            client=contact(f"qc-{n}", **person),
            expert=contact(f"qe-{n}", **person),
        )
        post_and_plan(client, envelope("booking.created", payload))
    book(client, 3, due + timedelta(hours=1))  # and people with no quiet hours, in the same cluster
    sweep()
    rows = one_hour_reminders()
    quiet_rows = [row for row in rows if row.recipient.quiet_hours]
    assert len(quiet_rows) == 6 and all(row.due_at >= due for row in quiet_rows)
    assert sum(row.due_at < due for row in rows if not row.recipient.quiet_hours) >= 5  # the others still go early


def test_packing_does_not_move_messages_twice(app, client):
    book(client, 3, this_second() + timedelta(hours=1, minutes=5))
    assert sweep()["moved_early"] == 5
    assert sweep()["moved_early"] == 0


def window(ident: int, earliest: int, latest: int) -> Window:
    at = datetime.fromtimestamp(latest, timezone.utc)
    return Window(ident, earliest, latest, at, at)


def test_assign_fits_every_message_that_any_schedule_could():
    # Taking the latest-due first would give B the 9th second and leave C, which can only go then, out.
    fixed, flexible, tight = window(1, 9, 10), window(2, 0, 10), window(3, 9, 9)
    assert assign([fixed, flexible, tight], per_second=1, first_second=0) == {1: 10, 3: 9, 2: 8}


def test_assign_never_plans_into_the_past_nor_over_the_rate():
    windows = [window(n, 0, 100) for n in range(50)]
    seconds = assign(windows, per_second=3, first_second=90)
    assert len(seconds) == 33  # 90..100 is eleven seconds of three
    assert max(Counter(seconds.values()).values()) == 3 and min(seconds.values()) == 90


def test_a_message_that_lost_its_second_stays_early_rather_than_go_back_to_its_time():
    scheduled = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)
    moved = Window(1, 0, int(scheduled.timestamp()), scheduled - timedelta(seconds=30), scheduled)
    assert due_time(moved, None) == scheduled - timedelta(seconds=30)  # the rate sends it from there
    assert due_time(moved, int(scheduled.timestamp())) == scheduled
