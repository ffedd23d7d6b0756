"""The planning rules: which messages each event plans, moves or cancels."""

from datetime import timedelta

from sqlalchemy import select, update

from tests.support.factories import (
    booking_payload,
    envelope,
    kinds,
    last_outcome,
    notifications,
    now,
    plan,
    post,
    post_and_plan,
    row_counts,
)
from webapp.extensions import db
from webapp.models import Booking, InboundEvent

REMINDERS = ["booking_1h", "booking_24h", "booking_end", "booking_start"]


def test_created_tells_the_expert_and_plans_both_parties_reminders(client):
    start = (now() + timedelta(days=2)).replace(microsecond=0)
    post_and_plan(client, envelope("booking.created", booking_payload(start=start, minutes=45)))
    rows = notifications()
    assert kinds(r for r in rows if r.type.value == "booking_created") == [("booking_created", "expert-1", "pending")]
    for person in ("client-1", "expert-1"):
        mine = {r.type.value: r for r in rows if r.recipient.external_id == person and r.type.value in REMINDERS}
        assert sorted(mine) == REMINDERS
        assert mine["booking_24h"].scheduled_at == start - timedelta(hours=24)
        assert mine["booking_1h"].scheduled_at == start - timedelta(hours=1)
        assert mine["booking_start"].scheduled_at == start
        assert mine["booking_end"].scheduled_at == start + timedelta(minutes=40)


def test_reminders_already_past_are_skipped(client):
    post_and_plan(client, envelope("booking.created", booking_payload(start=now() + timedelta(minutes=30))))
    planned = {r.type.value for r in notifications()}
    assert planned == {"booking_created", "booking_start", "booking_end"}


def received_then_planned(client, events: list[dict], waited: timedelta) -> None:
    """Post events, as if they had waited this long in the inbox before the planner took them."""
    for event in events:
        post(client, event)
    db.session.execute(update(InboundEvent).values(received_at=now() - waited))
    db.session.commit()
    plan()


def test_a_reminder_falling_due_while_its_event_waits_is_sent_late_not_skipped(client):
    start = now() - timedelta(minutes=1)  # arrived ten minutes ago, before the start; planned after it
    received_then_planned(client, [envelope("booking.created", booking_payload(start=start))], timedelta(minutes=10))
    starts = notifications(type="booking_start")
    assert kinds(starts) == [("booking_start", "client-1", "pending"), ("booking_start", "expert-1", "pending")]
    assert all(row.due_at <= now() for row in starts)  # due already: it goes out at once, its lateness recorded
    assert {r.type.value for r in notifications()} == {"booking_created", "booking_start", "booking_end"}


def test_a_reminder_that_fell_due_while_its_event_waited_is_dropped_once_it_means_nothing(client):
    begun = booking_payload("b-begun", start=now() - timedelta(minutes=30))  # its 1 h reminder is no use now
    over = booking_payload("b-over", start=now() - timedelta(minutes=70))  # 60 minutes: ended ten minutes ago
    events = [envelope("booking.created", payload) for payload in (begun, over)]
    received_then_planned(client, events, timedelta(minutes=100))
    assert {(r.booking.external_id, r.type.value) for r in notifications()} == {
        ("b-begun", "booking_created"),
        ("b-begun", "booking_start"),
        ("b-begun", "booking_end"),
        ("b-over", "booking_created"),
    }


def test_end_time_and_default_duration(client, app):
    start = (now() + timedelta(days=1)).replace(microsecond=0)
    payload = booking_payload("b-end", start=start, end_time=(start + timedelta(minutes=90)).isoformat())
    del payload["duration_minutes"]
    post_and_plan(client, envelope("booking.created", payload))
    payload = booking_payload("b-default", start=start)
    del payload["duration_minutes"]
    post_and_plan(client, envelope("booking.created", payload))
    ends = {b.external_id: b.ends_at - b.starts_at for b in db.session.scalars(select(Booking))}
    assert ends == {
        "b-end": timedelta(minutes=90),
        "b-default": timedelta(minutes=app.config["DEFAULT_DURATION_MINUTES"]),
    }


def test_accepted_tells_the_client(client):
    post_and_plan(client, envelope("booking.created", booking_payload()))
    post_and_plan(client, envelope("booking.accepted", {"booking_id": "b-1"}))
    assert kinds(notifications(type="booking_accepted")) == [("booking_accepted", "client-1", "pending")]
    assert db.session.scalar(select(Booking)).status.value == "accepted"


def test_cancelled_cancels_every_open_reminder_and_tells_both(client):
    post_and_plan(client, envelope("booking.created", booking_payload()))
    post_and_plan(client, envelope("booking.cancelled", {"booking_id": "b-1"}))
    rows = notifications()
    assert {r.status.value for r in rows if r.type.value in REMINDERS} == {"cancelled"}
    assert kinds(notifications(type="booking_cancel")) == [
        ("booking_cancel", "client-1", "pending"),
        ("booking_cancel", "expert-1", "pending"),
    ]


def test_late_created_after_cancelled_revives_nothing(client):
    created_at = now() - timedelta(minutes=5)
    post_and_plan(client, envelope("booking.cancelled", booking_payload(), at=now()))
    response = post_and_plan(client, envelope("booking.created", booking_payload(), at=created_at))
    assert response.status_code == 202
    assert last_outcome() == "stale"
    assert db.session.scalar(select(Booking)).status.value == "cancelled"
    assert {r.type.value for r in notifications()} == {"booking_cancel"}


def test_created_after_cancel_with_newer_timestamp_still_revives_nothing(client):
    post_and_plan(client, envelope("booking.cancelled", booking_payload(), at=now() - timedelta(minutes=1)))
    assert post_and_plan(client, envelope("booking.created", booking_payload())).status_code == 202
    assert last_outcome() == "ignored"
    assert {r.type.value for r in notifications()} == {"booking_cancel"}


def test_same_content_under_a_new_event_id_plans_nothing_new(client):
    event = envelope("booking.created", booking_payload())
    post_and_plan(client, event)
    before = len(notifications())
    assert post_and_plan(client, event).status_code == 202
    assert len(notifications()) == before


def test_reschedule_moves_reminders_and_moving_back_restores_them(client):
    first = (now() + timedelta(days=2)).replace(microsecond=0)
    second = first + timedelta(days=1)
    post_and_plan(client, envelope("booking.created", booking_payload(start=first)))
    post_and_plan(
        client,
        envelope(
            "booking.rescheduled", {"booking_id": "b-1", "scheduled_time": second.isoformat(), "duration_minutes": 60}
        ),
    )
    live = [r for r in notifications(status="pending") if r.type.value in REMINDERS]
    assert len(live) == 8
    assert {r.booking_starts_at for r in live} == {second}
    assert min(r.scheduled_at for r in live) == second - timedelta(hours=24)
    old = [r for r in notifications() if r.type.value in REMINDERS and r.booking_starts_at == first]
    assert {r.status.value for r in old} == {"cancelled"}

    post_and_plan(client, envelope("booking.rescheduled", {"booking_id": "b-1", "scheduled_time": first.isoformat()}))
    live = [r for r in notifications(status="pending") if r.type.value in REMINDERS]
    assert len(live) == 8 and {r.booking_starts_at for r in live} == {first}
    # One row per (booking, type, recipient, channel, start): moving back reused them.
    assert len([r for r in notifications() if r.type.value in REMINDERS]) == 16


def test_reminder_24hr_event_sends_the_24h_reminder_now_once(client):
    post_and_plan(client, envelope("booking.created", booking_payload()))
    post_and_plan(client, envelope("booking.reminder.24hr", {"booking_id": "b-1"}))
    rows = notifications(type="booking_24h")
    assert len(rows) == 2
    assert all(r.due_at <= now() for r in rows)
    post_and_plan(client, envelope("booking.reminder.24hr", {"booking_id": "b-1"}))
    assert len(notifications(type="booking_24h")) == 2


def test_payment_and_user_events_send_their_message_now(client):
    post_and_plan(
        client,
        envelope("payment.successful", {"payment_id": "p-1", "user_id": "u-1", "amount": 49.5, "currency": "EUR"}),
    )
    post_and_plan(
        client,
        envelope(
            "user.welcome", {"user_id": "u-2", "name": "Lin", "email": "lin@example.com", "timezone": "Asia/Kolkata"}
        ),
    )
    post_and_plan(client, envelope("user.password_reset", {"user_id": "u-2", "reset_url": "https://x.test/r"}))
    rows = notifications()
    assert kinds(rows) == [
        ("payment_successful", "u-1", "pending"),
        ("user_password_reset", "u-2", "pending"),
        ("user_welcome", "u-2", "pending"),
    ]
    assert all(r.booking_id is None for r in rows)
    assert rows[0].data["amount"] == 49.5
    assert rows[1].recipient.timezone == "Asia/Kolkata"


def test_older_profile_update_does_not_overwrite_newer_contact(client):
    post_and_plan(client, envelope("user.profile_updated", {"user_id": "u-1", "email": "new@example.com"}))
    post_and_plan(
        client,
        envelope("user.profile_updated", {"user_id": "u-1", "email": "old@example.com"}, at=now() - timedelta(hours=1)),
    )
    assert notifications()[0].recipient.email == "new@example.com"


def test_recipient_without_usable_contact_gets_a_failed_row_with_reason(client, app):
    app.config["CHANNELS"] = ["email", "sms"]
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "name": "No Contact"}))
    [row] = notifications()
    assert row.status.value == "failed"
    assert row.last_error == (
        "recipient u-1 cannot be reached: none of the channels turned on (email, sms, webhook) has a contact for them"
    )


def test_webhook_channel_follows_the_recipients_url(client):
    expert = {"id": "expert-1", "webhook_url": "https://hooks.example.com/x"}
    post_and_plan(client, envelope("booking.created", booking_payload(expert=expert)))
    channels = {(r.recipient.external_id, r.channel) for r in notifications(type="booking_created")}
    assert channels == {("expert-1", "log"), ("expert-1", "webhook")}


def test_every_event_is_recorded_with_its_outcome(client):
    post_and_plan(client, envelope("booking.cancelled", booking_payload(), at=now()))
    post_and_plan(client, envelope("booking.created", booking_payload(), at=now() - timedelta(hours=1)))
    outcomes = [
        (e.event_type, e.outcome.value) for e in db.session.scalars(select(InboundEvent).order_by(InboundEvent.id))
    ]
    assert outcomes == [("booking.cancelled", "applied"), ("booking.created", "stale")]
    assert row_counts()["inbound_events"] == 2


def test_ingest_arms_one_wakeup_per_distinct_due_second(client, redis):
    start = (now() + timedelta(days=2)).replace(microsecond=0)
    post_and_plan(client, envelope("booking.created", booking_payload(start=start, minutes=60)))
    armed = {member.decode() for member in redis.zrange("rq:scheduler:scheduled_jobs", 0, -1)}
    due_seconds = {int(r.due_at.timestamp() + 0.999999) for r in notifications(status="pending")}
    assert len(due_seconds) == 5  # now (booking_created), 24 h, 1 h, start, end - 5 min
    expected = {f"bellhop-wakeup-{second}" for second in due_seconds}
    # Besides those, at most the second the planner committed in, to send at once what it held back.
    extra = armed - expected
    assert expected <= armed and len(extra) <= 1
    assert all(int(name.removeprefix("bellhop-wakeup-")) <= now().timestamp() for name in extra)
