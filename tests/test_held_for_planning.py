"""A cancel, move or opt-out holds from its 202: what it may change waits for the planner, not sent on the old state."""

import time
from datetime import timedelta

import pytest
from sqlalchemy import event as sql_event
from sqlalchemy import select, text

from tests.support.factories import booking_payload, contact, envelope, notifications, plan, post, this_second
from webapp.domain.sending import attempts, states
from webapp.extensions import db
from webapp.models import InboundEvent
from webapp.models.types import utcnow
from workers.jobs import deliver

HOUR_BEHIND = 3600


@pytest.fixture
def booked(app, client, run_jobs, receiver):
    """A booking whose start reminders fall due in a few seconds, planned; the planner then falls an hour behind."""
    # Room for the set-up on a busy machine: the start reminders must still be ahead when it ends.
    start = this_second() + timedelta(seconds=4)
    people = {role: contact(f"{role}-1", webhook_url=receiver.url) for role in ("client", "expert")}
    assert post(client, envelope("booking.created", booking_payload(start=start, **people))).status_code == 202
    plan()
    run_jobs()  # the expert's booking request goes out now
    assert utcnow() < start and "booking_start" not in dict(sent_types(receiver)), "the set-up ran past the start"
    receiver.received.clear()
    app.config["PLANNER_DELAY_SECONDS"] = HOUR_BEHIND
    return start


def sent_types(receiver) -> list[tuple[str, str]]:
    """What the receiver got: (type, recipient) per message."""
    return sorted((request["json"]["type"], request["json"]["recipient_id"]) for request in receiver.received)


def start_reminders() -> list:
    return notifications(type="booking_start")


def wait_until(moment) -> None:
    time.sleep(max(0.0, (moment - utcnow()).total_seconds()) + 0.2)


def catch_up(app, run_jobs) -> None:
    """The planner catches up, and the wake-up it arms sends what it held back."""
    app.config["PLANNER_DELAY_SECONDS"] = 0
    plan()
    run_jobs()


def test_a_reminder_due_while_its_cancel_waits_is_held_then_cancelled(app, client, run_jobs, receiver, booked):
    assert post(client, envelope("booking.cancelled", {"booking_id": "b-1"})).status_code == 202
    wait_until(booked)
    run_jobs()
    assert sent_types(receiver) == []  # the cancel is not planned yet, and already holds
    assert {(row.status.value, row.attempts) for row in start_reminders()} == {("pending", 0)}  # due, not claimed
    catch_up(app, run_jobs)
    assert {row.status.value for row in start_reminders()} == {"cancelled"}
    assert sent_types(receiver) == [("booking_cancel", "client-1"), ("booking_cancel", "expert-1")]


def test_a_held_reminder_goes_out_once_the_planner_decides_it_is_still_wanted(app, client, run_jobs, receiver, booked):
    assert post(client, envelope("booking.accepted", {"booking_id": "b-1"})).status_code == 202
    wait_until(booked)
    run_jobs()
    assert sent_types(receiver) == []
    catch_up(app, run_jobs)
    assert ("booking_start", "client-1") in sent_types(receiver)
    assert ("booking_start", "expert-1") in sent_types(receiver)
    assert {row.status.value for row in start_reminders()} == {"sent"}


def test_a_waiting_opt_out_holds_that_persons_messages_only(app, client, run_jobs, receiver, booked):
    opt_out = {"user_id": "client-1", "preferences": {"webhook": False}}
    assert post(client, envelope("user.profile_updated", opt_out)).status_code == 202
    wait_until(booked)
    run_jobs()
    assert sent_types(receiver) == [("booking_start", "expert-1")]  # the expert's is not in question
    catch_up(app, run_jobs)
    assert ("booking_start", "client-1") not in sent_types(receiver)
    by_person = {row.recipient.external_id: row.status.value for row in start_reminders()}
    assert by_person == {"client-1": "suppressed", "expert-1": "sent"}


def test_a_message_already_queued_when_the_cancel_arrives_is_held(app, client, receiver, booked):
    wait_until(booked)
    claimed = states.claim_due(utcnow(), 100)
    db.session.commit()
    assert post(client, envelope("booking.cancelled", {"booking_id": "b-1"})).status_code == 202
    assert deliver([notification_id for notification_id, _ in claimed], "webhook") == 0
    assert sent_types(receiver) == []
    assert {(row.status.value, row.last_error) for row in start_reminders()} == {("pending", states.HELD)}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite's claim holds the one write lock
def test_a_row_whose_waiting_event_is_planned_during_its_claim_is_not_left_queued(
    app, client, run_jobs, receiver, booked
):
    wait_until(booked)
    claimed = [notification_id for notification_id, _ in states.claim_due(utcnow(), 100)]
    db.session.commit()
    details = {"user_id": "client-1", "name": "Client One"}  # the client's details: their messages wait for it
    assert post(client, envelope("user.profile_updated", details)).status_code == 202

    planned = []

    def planner_commits_between_the_claim_and_the_hold(connection, cursor, statement, *_):
        if "attempts=(notifications.attempts +" in statement and not planned:  # the claim just skipped the row
            with db.engine.connect() as planner:
                planned.append(
                    planner.execute(text("UPDATE inbound_events SET outcome = 'applied' WHERE outcome IS NULL"))
                )
                planner.commit()

    sql_event.listen(db.engine, "after_cursor_execute", planner_commits_between_the_claim_and_the_hold)
    try:
        prepared = attempts.claim_batch(claimed)
    finally:
        sql_event.remove(db.engine, "after_cursor_execute", planner_commits_between_the_claim_and_the_hold)
    assert planned
    assert [item.notification_id for item in prepared] != claimed  # the client's row was skipped, not claimed
    assert "queued" not in {row.status.value for row in start_reminders()}  # and not left queued
    run_jobs()
    assert ("booking_start", "client-1") in sent_types(receiver)


def test_a_message_claimed_for_sending_when_the_cancel_arrives_is_held(app, client, receiver, booked):
    wait_until(booked)
    claimed = states.claim_due(utcnow(), 100)
    db.session.commit()
    prepared = attempts.claim_batch([notification_id for notification_id, _ in claimed])
    assert {row.status.value for row in start_reminders()} == {"processing"}
    assert post(client, envelope("booking.cancelled", {"booking_id": "b-1"})).status_code == 202
    assert attempts.keep_wanted(prepared) == []  # the last re-check sees the waiting cancel
    assert {(row.status.value, row.attempts) for row in start_reminders()} == {("pending", 0)}


def test_the_inbox_records_what_each_waiting_event_may_change(app, client):
    events = [
        envelope("booking.created", booking_payload(expert=contact("expert-1"), client={"id": "client-1"})),
        envelope("booking.cancelled", {"booking_id": "b-1"}),
        envelope("payment.successful", {"payment_id": "p-1", "user_id": "u-1", "user": contact("u-1")}),
        envelope("payment.failed", {"payment_id": "p-2", "user_id": "u-2", "booking_id": "b-1"}),
        envelope("user.profile_updated", {"user_id": "u-3", "email": "u3@example.com"}),
        envelope("user.welcome", {"user_id": "u-4"}),
    ]
    for event in events:
        assert post(client, event).status_code == 202
    stored = db.session.execute(
        select(InboundEvent.booking_ref, InboundEvent.person_ref, InboundEvent.other_person_ref).order_by(
            InboundEvent.id
        )
    ).all()
    assert [tuple(row) for row in stored] == [
        ("b-1", "expert-1", None),  # the client's contact gives only an id: nothing of theirs can change
        ("b-1", None, None),
        (None, "u-1", None),
        (None, None, None),  # a payment does not move its booking
        (None, "u-3", None),
        (None, None, None),
    ]
