"""Dispatch and delivery through the real scheduler step and RQ worker."""

import math
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.support.apps import config_for
from tests.support.factories import booking_payload, envelope, notifications, now, post_and_plan
from webapp import create_app
from webapp.domain.accepting.inbox import accept
from webapp.domain.planning import planner
from webapp.domain.sending import states
from webapp.extensions import db
from webapp.models import DeliveryAttempt, EventSource, Notification
from workers.jobs import recover_lost_jobs

HOOK_ONLY = {"CHANNELS": [], "WEBHOOK_TIMEOUT_SECONDS": 1.0}


@pytest.fixture
def config_overrides():
    return dict(HOOK_ONLY)


def hooked(receiver, person="expert-1"):
    return {"id": person, "name": person.title(), "webhook_url": receiver.url, "timezone": "Asia/Kolkata"}


def soon_booking(receiver, booking_id="b-1", seconds=2):
    """A booking starting in a few seconds whose parties both take webhooks."""
    start = now() + timedelta(seconds=seconds)
    return booking_payload(
        booking_id, start=start, minutes=60, client=hooked(receiver, "client-1"), expert=hooked(receiver)
    )


def canceller(database_url: str, redis_url: str):
    """Return a function that accepts and plans booking b-1's cancel from a second app, as another process would.

    The function's committed_at list gets the time just after the commit returned.
    """
    other = create_app(config_for(database_url, redis_url, **HOOK_ONLY))

    def cancel() -> None:
        with other.app_context():
            accept(
                f'{{"event_type":"booking.cancelled","timestamp":"{now().isoformat()}",'
                '"payload":{"booking_id":"b-1"}}',
                "evt-cancel",
                EventSource.WEBHOOK,
            )
            planner.plan_waiting()
            cancel.committed_at.append(now())
            db.engine.dispose()

    cancel.committed_at = []
    return cancel


def wait_until_due(rows) -> None:
    # Until the wake-up's whole second (due rounded up), not just the due time: run_jobs runs only due wake-ups.
    wake_at = math.ceil(max(r.due_at for r in rows).timestamp())
    time.sleep(max(0.0, wake_at - time.time()) + 0.05)


def test_log_channel_sends_and_records_body(app, client, run_jobs, caplog):
    app.config["CHANNELS"] = ["log"]
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "name": "Lin"}))
    with caplog.at_level("INFO", logger="bellhop.channels.log"):
        run_jobs()
    [row] = notifications()
    assert row.status.value == "sent" and row.sent_at is not None
    assert row.subject == "Welcome to Hire an Expert"
    assert "Hello Lin" in row.body
    assert "Hello Lin" in caplog.text
    [attempt] = row.attempt_log
    assert attempt.outcome.value == "sent" and attempt.finished_at >= attempt.started_at


def test_webhook_delivery_is_signed_and_rendered_in_the_recipients_timezone(client, run_jobs, receiver):
    post_and_plan(client, envelope("booking.created", soon_booking(receiver, seconds=3600 * 3)))
    run_jobs()
    [row] = notifications(type="booking_created")
    assert row.status.value == "sent"
    [request] = receiver.received
    assert request["verified"]
    assert request["headers"]["webhook-id"] == f"bellhop-notification-{row.id}"
    assert request["json"]["type"] == "booking_created"
    assert request["json"]["booking"]["booking_id"] == "b-1"
    assert "IST" in request["json"]["body"]  # Asia/Kolkata, the expert's zone
    assert row.attempt_log[0].response_summary.startswith("HTTP 200")


def test_reminder_is_sent_when_due_and_not_before(client, run_jobs, receiver):
    post_and_plan(client, envelope("booking.created", soon_booking(receiver, seconds=2)))
    run_jobs()
    starts = notifications(type="booking_start")
    assert {r.status.value for r in starts} == {"pending"}
    wait_until_due(starts)
    run_jobs()
    assert {r.status.value for r in notifications(type="booking_start")} == {"sent"}
    for row in notifications(type="booking_start"):
        assert row.sent_at - row.scheduled_at < timedelta(seconds=5)


def test_cancel_before_due_means_never_sent(client, run_jobs, receiver):
    post_and_plan(client, envelope("booking.created", soon_booking(receiver, seconds=1)))
    post_and_plan(client, envelope("booking.cancelled", {"booking_id": "b-1"}))
    wait_until_due(notifications(type="booking_start"))
    run_jobs()
    types_sent = sorted(r["json"]["type"] for r in receiver.received)
    assert types_sent == ["booking_cancel", "booking_cancel"]
    assert {r.status.value for r in notifications(type="booking_start")} == {"cancelled"}


def test_cancel_after_dispatch_while_jobs_are_queued_means_not_sent(client, run_jobs, receiver, redis):
    from workers.jobs import dispatch_due

    post_and_plan(client, envelope("booking.created", soon_booking(receiver, seconds=1)))
    wait_until_due(notifications(type="booking_start"))
    dispatch_due()  # rows now queued, deliver jobs waiting in RQ
    assert {r.status.value for r in notifications(type="booking_start")} == {"queued"}
    post_and_plan(client, envelope("booking.cancelled", {"booking_id": "b-1"}))
    run_jobs()
    assert "booking_start" not in [r["json"]["type"] for r in receiver.received]
    assert {r.status.value for r in notifications(type="booking_start")} == {"cancelled"}


@pytest.mark.parametrize("rounds", [1, 4])
def test_cancel_committed_mid_batch_stops_the_rest_of_the_batch(
    app, client, run_jobs, receiver, database_url, redis_url, rounds
):
    """One send at a time: the cancel commits during the first, so the batch's next row is not sent.

    With several rounds of sends per commit, each round is still re-checked just before it goes.
    """
    post_and_plan(client, envelope("booking.created", soon_booking(receiver, seconds=1)))
    wait_until_due(notifications(type="booking_start"))
    cancel = canceller(database_url, redis_url)
    receiver.on_request = lambda count: count == 1 and cancel()
    app.config.update(DELIVER_BATCH_SIZE=10, WEBHOOK_CONCURRENCY=1, SEND_ROUNDS_PER_COMMIT=rounds)
    run_jobs()
    sent_starts = [r for r in receiver.received if r["json"]["type"] == "booking_start"]
    assert len(sent_starts) <= 1  # the one in flight when the cancel committed
    rows = notifications(type="booking_start")
    assert sorted(r.status.value for r in rows) in (["cancelled", "sent"], ["cancelled", "cancelled"])
    assert len([r for r in rows if r.status.value == "sent"]) == len(sent_starts)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_no_attempt_that_starts_after_a_cancel_commits_is_sent(
    app, client, run_jobs, receiver, database_url, redis_url, concurrency
):
    """With parallel sends, what may go out is exactly what had started before the cancel committed."""
    post_and_plan(client, envelope("booking.created", soon_booking(receiver, seconds=1)))
    wait_until_due(notifications(type="booking_start"))
    cancel = canceller(database_url, redis_url)
    receiver.on_request = lambda count: count == 1 and cancel()
    app.config.update(DELIVER_BATCH_SIZE=10, WEBHOOK_CONCURRENCY=concurrency)
    run_jobs()
    [committed_at] = cancel.committed_at
    started = db.session.scalars(
        select(DeliveryAttempt.started_at).join(Notification).where(Notification.type == "booking_start")
    ).all()
    assert len(started) == len([r for r in receiver.received if r["json"]["type"] == "booking_start"])
    assert all(at < committed_at for at in started)
    assert {r.status.value for r in notifications(type="booking_start")} <= {"sent", "cancelled"}


def test_transient_error_is_retried_after_retry_after(client, run_jobs, receiver):
    receiver.answer(503, {"Retry-After": "1"})
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "pending" and row.last_error == "HTTP 503"
    assert row.due_at >= row.attempt_log[0].finished_at + timedelta(seconds=1)
    wait_until_due([row])
    run_jobs()
    [row] = notifications()
    assert row.status.value == "sent" and row.attempts == 2
    assert [a.outcome.value for a in row.attempt_log] == ["transient_error", "sent"]
    ids = {r["headers"]["webhook-id"] for r in receiver.received}
    assert len(ids) == 1  # the same idempotency key on every attempt


def test_timeout_is_transient(client, run_jobs, receiver):
    receiver.answer(200, delay=1.5)
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "pending" and row.last_error == "timed out"


def test_permanent_error_fails_at_once(client, run_jobs, receiver):
    receiver.answer(404)
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "failed" and row.attempts == 1
    assert row.last_error == "permanent: HTTP 404"
    assert row.attempt_log[0].outcome.value == "permanent_error"


def test_transient_errors_stop_at_the_attempt_limit(app, client, run_jobs, receiver):
    app.config["MAX_ATTEMPTS"] = 2
    app.config["RETRY_BASE_SECONDS"] = app.config["RETRY_MAX_SECONDS"] = 0
    for _ in range(3):
        receiver.answer(500)
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
    for _ in range(3):
        run_jobs()
        time.sleep(1.0)
    [row] = notifications()
    assert row.status.value == "failed" and row.attempts == 2
    assert row.last_error == "gave up after 2 attempts: HTTP 500"


def test_redis_flushed_with_reminders_pending_still_sends_them(client, run_jobs, receiver, redis):
    post_and_plan(client, envelope("booking.created", soon_booking(receiver, seconds=2)))
    run_jobs()
    redis.flushall()
    wait_until_due(notifications(type="booking_start"))
    run_jobs()  # the scheduler re-arms the sweep; the sweep finds the due rows
    run_jobs()
    assert {r.status.value for r in notifications(type="booking_start")} == {"sent"}


def test_expired_lease_returns_a_stuck_row_and_it_is_sent(client, run_jobs, receiver):
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
    # A worker claimed the row and died before recording anything.
    db.session.execute(
        update(Notification).values(status="processing", attempts=1, lease_expires_at=now() - timedelta(seconds=1))
    )
    db.session.commit()
    from workers.jobs import sweep

    assert sweep()["returned"] == 1
    run_jobs()
    [row] = notifications()
    assert row.status.value == "sent" and row.attempts == 2
    # The attempt the dead worker never finished is on record too.
    assert [(a.number, a.outcome.value) for a in row.attempt_log] == [(1, "transient_error"), (2, "sent")]
    assert "worker lost" in row.attempt_log[0].error


def test_template_error_fails_the_message_not_the_worker(app, client, run_jobs, receiver, tmp_path, monkeypatch):
    from webapp.domain.sending.templates import rendering

    broken = tmp_path / "en" / "user_welcome"
    broken.mkdir(parents=True)
    (broken / "subject.txt").write_text("{{ recipient.no_such_field }}")
    monkeypatch.setattr(rendering, "TEMPLATE_ROOT", tmp_path)
    rendering.environment.cache_clear()
    try:
        post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
        post_and_plan(client, envelope("payment.failed", {"payment_id": "p", "user_id": "u-1"}))
        run_jobs()
    finally:
        rendering.environment.cache_clear()
    rows = {r.type.value: r for r in notifications()}
    assert rows["user_welcome"].status.value == "failed"
    assert "template" in rows["user_welcome"].last_error
    assert rows["payment_failed"].status.value == "failed"  # no template in the broken folder either


def test_two_dispatchers_never_claim_the_same_row(client, run_jobs, receiver, app):
    from workers.jobs import dispatch_due

    for n in range(30):
        post_and_plan(client, envelope("user.welcome", {"user_id": f"u-{n}", "webhook_url": receiver.url}))
    claimed = []

    def dispatch():
        with app.app_context():
            claimed.append(dispatch_due())
            db.session.remove()

    threads = [threading.Thread(target=dispatch) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(claimed) == 30
    run_jobs()
    assert len(receiver.received) == 30
    assert db.session.scalar(select(db.func.count()).select_from(DeliveryAttempt)) == 30


def test_cancel_while_a_send_fails_means_the_retry_is_never_sent(
    app, client, run_jobs, receiver, database_url, redis_url
):
    """The cancel commits while the row is processing (so the cancel cannot touch it) and the send fails."""
    post_and_plan(client, envelope("booking.created", soon_booking(receiver, seconds=2)))
    run_jobs()  # the booking_created message goes out first
    sent_before = len(receiver.received)
    wait_until_due(notifications(type="booking_start"))
    cancel = canceller(database_url, redis_url)
    app.config["DELIVER_BATCH_SIZE"] = 1  # one row in flight at a time
    for _ in range(4):
        receiver.answer(503, {"Retry-After": "1"})
    receiver.on_request = lambda count: count == sent_before + 1 and cancel()
    run_jobs()
    time.sleep(2.5)
    run_jobs()
    starts = [r for r in receiver.received if r["json"]["type"] == "booking_start"]
    assert len(starts) == 1  # only the attempt that was already under way
    assert {r.status.value for r in notifications(type="booking_start")} == {"cancelled"}


def test_a_slow_batch_keeps_its_leases_so_the_sweep_cannot_take_its_rows(app, client, receiver):
    from webapp.domain.sending import attempts
    from workers.jobs import dispatch_due, sweep

    app.config["LEASE_SECONDS"] = 2
    for n in range(3):
        post_and_plan(client, envelope("user.welcome", {"user_id": f"u-{n}", "webhook_url": receiver.url}))
    dispatch_due()
    ids = [row.id for row in notifications()]
    batch = attempts.claim_batch(ids)
    claimed_at = now()
    time.sleep(1.2)  # more than half the lease has gone by
    attempts.keep_leases(batch, claimed_at)
    time.sleep(1.0)  # past the original lease, within the extended one
    assert sweep()["returned"] == 0
    assert {row.status.value for row in notifications()} == {"processing"}


def test_a_backlog_longer_than_the_lease_does_not_queue_a_row_twice(app, client, run_jobs, receiver, redis):
    from webapp.plumbing import queueing
    from workers.jobs import dispatch_due, sweep

    app.config["LEASE_SECONDS"] = 1
    for n in range(3):
        post_and_plan(client, envelope("user.welcome", {"user_id": f"u-{n}", "webhook_url": receiver.url}))
    work = queueing.queue()
    work.enqueue("workers.jobs.dispatch_due")  # a backlog: the workers have not reached this job yet
    dispatch_due()
    time.sleep(1.2)  # the queued rows' lease runs out while their job still waits behind the backlog
    assert sweep()["returned"] == 0
    assert [job.func_name for job in work.get_jobs()].count("workers.jobs.deliver") == 1
    run_jobs()
    assert {row.status.value for row in notifications()} == {"sent"}
    assert len({request["headers"]["webhook-id"] for request in receiver.received}) == len(receiver.received) == 3


def test_a_queued_row_whose_job_is_gone_is_taken_back_when_its_lease_runs_out(app, client, run_jobs, receiver, redis):
    from webapp.plumbing import queueing
    from workers.jobs import dispatch_due, sweep

    app.config["LEASE_SECONDS"] = 1
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
    dispatch_due()
    work = queueing.queue()
    redis.lpop(work.key)  # a worker took the job and died before it claimed the row
    time.sleep(1.2)
    assert sweep()["returned"] == 1
    run_jobs()
    assert [row.status.value for row in notifications()] == ["sent"]
    assert len(receiver.received) == 1


def test_unknown_channel_in_configuration_fails_the_message_with_the_reason(app, client, run_jobs):
    app.config["CHANNELS"] = ["carrier-pigeon"]
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1"}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "failed"
    assert "unknown channel 'carrier-pigeon'" in row.last_error


def test_a_batch_keeps_several_posts_in_flight_and_records_each(app, client, run_jobs, receiver):
    app.config["WEBHOOK_CONCURRENCY"] = 4
    for n in range(8):
        post_and_plan(client, envelope("user.welcome", {"user_id": f"u-{n}", "webhook_url": receiver.url}))
        receiver.answer(200, delay=0.3)
    run_jobs()
    assert receiver.max_in_flight == 4
    assert {row.status.value for row in notifications()} == {"sent"}
    assert db.session.scalar(select(db.func.count()).select_from(DeliveryAttempt)) == 8


def test_worker_warm_up_changes_no_row(app, client, receiver):
    from workers.jobs import dispatch_due
    from workers.warmup import warm_up

    post_and_plan(client, envelope("booking.created", soon_booking(receiver, seconds=3600)))
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
    dispatch_due()
    before = [(r.id, r.status, r.attempts, r.updated_at) for r in notifications()]
    warm_up()
    db.session.expire_all()
    assert [(r.id, r.status, r.attempts, r.updated_at) for r in notifications()] == before
    assert db.session.scalar(select(db.func.count()).select_from(DeliveryAttempt)) == 0


def test_a_reminder_whose_retry_would_land_after_the_start_is_expired_not_retried(client, run_jobs, receiver):
    start = now() + timedelta(hours=1, seconds=1)
    post_and_plan(
        client,
        envelope(
            "booking.created",
            booking_payload(
                "b-1", start=start, minutes=60, client=hooked(receiver, "client-1"), expert=hooked(receiver)
            ),
        ),
    )
    # By type, not in order: on a loaded machine the first run_jobs can last until the 1-hour reminders fall
    # due, and send them beside booking_created.
    receiver.answer_type("booking_1h", 503, {"Retry-After": "7200"})  # come back in two hours: after the start
    run_jobs()  # booking_created goes out now
    wait_until_due(notifications(type="booking_1h"))
    run_jobs()
    rows = notifications(type="booking_1h")
    assert {row.status.value for row in rows} == {"expired"}
    assert all(
        row.last_error == "expired: the next try would come after the booking started; last error: HTTP 503"
        for row in rows
    )
    assert all(len(row.attempt_log) == 1 for row in rows)


def test_recovery_takes_back_queued_rows_with_a_warning_and_stays_quiet_when_none_were_lost(app, client, caplog):
    """The scheduler runs recovery on every empty Redis, a first start included: only a real loss warns."""
    recover_lost_jobs(now().isoformat())
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": "http://127.0.0.1:9/hook"}))
    states.claim_due(now(), 10)
    db.session.commit()
    assert {r.status.value for r in notifications()} == {"queued"}
    result = recover_lost_jobs((now() + timedelta(seconds=1)).isoformat())
    assert result["released"] == 1
    assert any("Redis lost its jobs: 1 queued" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
