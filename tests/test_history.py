"""Status history: every change made off the delivery path is on record and on the notification's page."""

from datetime import timedelta

from sqlalchemy import update

from tests.support.factories import booking_payload, envelope, notifications, now, post_and_plan
from tests.support.signin import csrf_token, sign_in
from webapp.extensions import db
from webapp.models import Notification, StatusChange


def history(row) -> list[tuple[str, str]]:
    db.session.expire_all()
    changes = db.session.query(StatusChange).filter_by(notification_id=row.id).order_by(StatusChange.id)
    return [(change.status.value, change.reason) for change in changes]


def act(client, row, action):
    token = csrf_token(client, f"/dashboard/notifications/{row.id}")
    return client.post(f"/dashboard/notifications/{row.id}/{action}", data={"csrf_token": token})


def test_staff_cancel_and_retry_are_in_the_history_and_on_the_page(client, accounts):
    post_and_plan(client, envelope("booking.created", booking_payload()))
    [reminder, *_] = notifications(type="booking_24h")
    sign_in(client, "operator@example.com")
    act(client, reminder, "cancel")
    act(client, reminder, "retry")
    assert history(reminder) == [
        ("cancelled", "cancelled by operator@example.com"),
        ("pending", "retried by operator@example.com"),
    ]
    page = client.get(f"/dashboard/notifications/{reminder.id}").get_data(as_text=True)
    page = page[page.index("<h2>History</h2>") :]
    planned, cancelled, retried = (
        page.index(text) for text in ("planned", "cancelled by operator@example.com", "retried by operator@example.com")
    )
    assert planned < cancelled < retried  # oldest first


def test_booking_cancel_and_reschedule_are_in_the_history(client):
    start = now() + timedelta(days=3)
    post_and_plan(client, envelope("booking.created", booking_payload(start=start)))
    later = start + timedelta(hours=2)
    post_and_plan(client, envelope("booking.rescheduled", {"booking_id": "b-1", "scheduled_time": later.isoformat()}))
    moved = [row for row in notifications(type="booking_24h") if row.status.value == "cancelled"]
    assert moved and all(history(row) == [("cancelled", "booking rescheduled")] for row in moved)
    post_and_plan(client, envelope("booking.cancelled", {"booking_id": "b-1"}))
    current = [row for row in notifications(type="booking_1h") if row.booking_starts_at != start]
    assert current and all(history(row) == [("cancelled", "booking cancelled")] for row in current)


def test_the_sweep_taking_back_a_lost_row_is_in_the_history(app, client, receiver):
    app.config["CHANNELS"] = []  # the webhook only
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
    [row] = notifications()
    db.session.execute(
        update(Notification).values(status="processing", attempts=1, lease_expires_at=now() - timedelta(seconds=1))
    )
    db.session.commit()
    from workers.jobs import sweep

    sweep()
    assert history(row) == [("pending", "lease expired: taken back by the sweep")]


def test_an_opt_out_is_in_the_history_of_what_it_suppressed(client):
    post_and_plan(client, envelope("booking.created", booking_payload()))
    post_and_plan(
        client, envelope("user.profile_updated", {"user_id": "client-1", "preferences": {"reminders": False}})
    )
    suppressed = [row for row in notifications(type="booking_24h") if row.status.value == "suppressed"]
    assert len(suppressed) == 1
    [(status, reason)] = history(suppressed[0])
    assert status == "suppressed" and reason.startswith("suppressed: recipient opted out of session reminders")


def test_sends_write_no_history_rows(app, client, run_jobs, receiver):
    app.config["CHANNELS"] = []
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "sent" and history(row) == []
    assert db.session.query(StatusChange).count() == 0  # the delivery path is recorded by its attempts
