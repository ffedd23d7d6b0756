"""The durable inbox and the batched planner: wake-ups, order, poison events, several planners, a kill mid-batch."""

import json
import signal
import sqlite3
import subprocess
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text, update

from tests.support.factories import booking_payload, contact, envelope, notifications, now, plan, post, row_counts
from tests.support.processes import planner, process_env, wait_for
from tests.support.signin import sign_in
from webapp.domain.accepting.inbox import accept
from webapp.extensions import db
from webapp.models import Booking, EventSource, InboundEvent, Notification
from webapp.models.types import utcnow
from webapp.plumbing import queueing

REMINDERS = {"booking_24h", "booking_1h", "booking_start", "booking_end"}


def outcomes() -> dict[str, str | None]:
    """Each stored event's outcome by event id (None while it waits)."""
    db.session.expire_all()
    return {row.event_id: row.outcome and row.outcome.value for row in db.session.scalars(select(InboundEvent))}


def planning_jobs() -> list[str]:
    """The ids of planning jobs waiting in Bellhop's queue."""
    return [job.id for job in queueing.queue().jobs if job.func_name == queueing.PLAN_JOB]


def test_an_accepted_event_wakes_one_planning_job_at_the_front_of_the_queue(app, client, redis, run_jobs):
    for n in range(5):
        assert post(client, envelope("booking.created", booking_payload(f"b-{n}"))).status_code == 202
    assert len(planning_jobs()) == 1  # one wake-up for the burst, not one per event
    assert queueing.queue().jobs[0].func_name == queueing.PLAN_JOB
    assert set(outcomes().values()) == {None} and row_counts()["bookings"] == 0
    run_jobs()
    assert set(outcomes().values()) == {"applied"} and row_counts()["bookings"] == 5
    assert not redis.exists(queueing.planner_wake_key())  # the job that ran lets the next event wake another
    post(client, envelope("booking.cancelled", {"booking_id": "b-0"}))
    assert len(planning_jobs()) == 1


def test_the_sweep_wakes_the_planner_for_what_no_wake_up_reached(app, client, redis, run_jobs):
    post(client, envelope("booking.created", booking_payload()))
    redis.flushdb()  # the wake-up is lost with Redis; the event is safe in SQL
    from workers.jobs import sweep

    assert sweep()["waiting"] and len(planning_jobs()) == 1
    run_jobs()
    assert outcomes() and set(outcomes().values()) == {"applied"}


def test_a_planning_job_lost_with_redis_is_replaced_by_the_next_event(app, client, redis, run_jobs):
    post(client, envelope("booking.created", booking_payload("b-1")))
    redis.flushdb()  # the job is lost, as if its worker died; its mark is gone with it
    post(client, envelope("booking.created", booking_payload("b-2")))
    assert len(planning_jobs()) == 1
    run_jobs()
    assert set(outcomes().values()) == {"applied"} and not redis.exists(queueing.planner_wake_key())


def test_events_that_arrive_out_of_order_are_applied_in_event_time_within_a_batch(client):
    first, moved = now() + timedelta(days=2), now() + timedelta(days=3)
    reschedule = {"booking_id": "b-1", "scheduled_time": moved.isoformat()}
    post(client, envelope("booking.rescheduled", reschedule, at=now() - timedelta(minutes=1)), event_id="late")
    post(client, envelope("booking.created", booking_payload(start=first), at=now() - timedelta(minutes=2)), "early")
    assert plan() == 2
    assert outcomes() == {"late": "applied", "early": "applied"}
    assert db.session.scalar(select(Booking)).starts_at == moved
    pending = {row.booking_starts_at for row in notifications(status="pending") if row.type.value in REMINDERS}
    assert pending == {moved}


@pytest.fixture
def poisoned_bookings(database_url):
    """A database trigger that refuses the booking b-poison, as a bug or a bad row would make planning fail."""
    if database_url.startswith("postgresql"):
        create = [
            "CREATE OR REPLACE FUNCTION bellhop_poison() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'poisoned booking'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER bellhop_poison BEFORE INSERT ON bookings FOR EACH ROW "
            "WHEN (NEW.external_id = 'b-poison') EXECUTE FUNCTION bellhop_poison()",
        ]
        drop = ["DROP TRIGGER bellhop_poison ON bookings", "DROP FUNCTION bellhop_poison()"]
    else:
        create = [
            "CREATE TRIGGER bellhop_poison BEFORE INSERT ON bookings WHEN NEW.external_id = 'b-poison' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned booking'); END"
        ]
        drop = ["DROP TRIGGER bellhop_poison"]
    for statement in create:
        db.session.execute(text(statement))
    db.session.commit()
    yield
    for statement in drop:
        db.session.execute(text(statement))
    db.session.commit()


def test_a_poison_event_is_recorded_as_failed_and_never_blocks_its_batch(client, accounts, poisoned_bookings):
    for booking_id in ("b-1", "b-poison", "b-2"):
        post(client, envelope("booking.created", booking_payload(booking_id)), event_id=f"evt-{booking_id}")
    assert plan() == 3
    assert outcomes() == {"evt-b-1": "applied", "evt-b-poison": "failed", "evt-b-2": "applied"}
    assert {row.external_id for row in db.session.scalars(select(Booking))} == {"b-1", "b-2"}
    assert len(notifications()) == 2 * 9
    failed = db.session.scalar(select(InboundEvent).filter_by(event_id="evt-b-poison"))
    assert "poisoned booking" in failed.detail
    assert plan() == 0  # recorded, so never tried again on its own
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/events?state=failed").get_data(as_text=True)
    assert "evt-b-poison" in page and "poisoned booking" in page and "evt-b-1" not in page


@pytest.fixture
def statement_too_big(database_url):
    """A deterministic database error on booking b-poison: one that fails the same way on every try.

    PostgreSQL: a trigger raising program_limit_exceeded (class 54, an OperationalError to the driver).
    SQLite: a connection limit of 100 bound variables, fewer than a booking.created's nine messages take,
    so its insert fails with SQLite's own "too many SQL variables".
    """
    if database_url.startswith("postgresql"):
        db.session.execute(
            text(
                "CREATE OR REPLACE FUNCTION bellhop_too_big() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'statement is too complex' USING ERRCODE = 'program_limit_exceeded'; "
                "END $$ LANGUAGE plpgsql"
            )
        )
        db.session.execute(
            text(
                "CREATE TRIGGER bellhop_too_big BEFORE INSERT ON bookings FOR EACH ROW "
                "WHEN (NEW.external_id = 'b-poison') EXECUTE FUNCTION bellhop_too_big()"
            )
        )
        db.session.commit()
        yield "statement is too complex"
        db.session.execute(text("DROP TRIGGER bellhop_too_big ON bookings"))
        db.session.execute(text("DROP FUNCTION bellhop_too_big()"))
        db.session.commit()
        return

    def few_variables(connection, _record, _proxy):
        connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)

    db.session.remove()
    db.engine.dispose()
    event.listen(db.engine, "checkout", few_variables)
    yield "too many SQL variables"
    event.remove(db.engine, "checkout", few_variables)
    db.session.remove()
    db.engine.dispose()


def test_a_deterministic_database_error_isolates_its_event_as_poison(client, statement_too_big):
    payment = {"payment_id": "p-1", "user_id": "u-1", "amount": 10.0, "currency": "EUR", "user": contact("u-1")}
    post(client, envelope("payment.successful", payment), event_id="evt-payment")
    post(client, envelope("booking.created", booking_payload("b-poison")), event_id="evt-b-poison")
    assert plan() == 2  # not taken for an outage: the planner does not stop, and the payment goes through
    assert outcomes() == {"evt-payment": "applied", "evt-b-poison": "failed"}
    failed = db.session.scalar(select(InboundEvent).filter_by(event_id="evt-b-poison"))
    assert statement_too_big in failed.detail
    assert plan() == 0


def test_the_planning_lag_shows_on_readiness_metrics_and_the_events_page(app, client, accounts):
    post(client, envelope("booking.created", booking_payload()), event_id="evt-waiting")
    db.session.execute(update(InboundEvent).values(received_at=utcnow() - timedelta(seconds=90)))
    db.session.commit()
    body = client.get("/readyz").get_json()
    assert "planning" in body["failing"] and body["checks"]["planning"]["age_seconds"] >= 90
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/events?state=waiting").get_data(as_text=True)
    assert "1 event waiting to be planned" in page and "evt-waiting" in page
    scraped = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert "bellhop_events_waiting 1.0" in scraped
    plan()
    body = client.get("/readyz").get_json()
    assert "planning" not in body["failing"] and body["checks"]["planning"]["ok"]
    assert "No event is waiting to be planned" in client.get("/dashboard/events").get_data(as_text=True)
    assert client.get("/dashboard/events?state=nonsense").status_code == 400


def booking_stories(count: int) -> list[tuple[str, str]]:
    """For each booking: created, rescheduled, accepted, cancelled, in event time; as (event id, body) pairs."""
    start, at = now() + timedelta(days=2), now() - timedelta(minutes=10)
    stories = []
    for n in range(count):
        booking = f"b-{n}"
        steps = [
            ("booking.created", booking_payload(booking, start=start)),
            (
                "booking.rescheduled",
                {"booking_id": booking, "scheduled_time": (start + timedelta(hours=n)).isoformat()},
            ),
            ("booking.accepted", {"booking_id": booking}),
            ("booking.cancelled", {"booking_id": booking}),
        ]
        for step, (kind, payload) in enumerate(steps):
            body = json.dumps(envelope(kind, payload, at=at + timedelta(seconds=step)))
            stories.append((f"evt-{booking}-{step}", body))
    return stories


def accept_all(stories: list[tuple[str, str]]) -> None:
    """Store the events through the real accept path, interleaving the bookings as a busy platform would."""
    for event_id, body in sorted(stories, key=lambda story: story[0].rsplit("-", 1)[1]):
        accept(body, event_id, EventSource.WEBHOOK)


def planner_process(database_url: str, redis_url: str, tmp_path, name: str, batch: int) -> subprocess.Popen:
    """A planner of its own, planning batch events per transaction."""
    env = {**process_env(database_url, redis_url), "BELLHOP_PLANNER_BATCH": str(batch)}
    return planner(env, tmp_path / f"{name}.log")


def assert_every_story_told_once(count: int) -> None:
    """Every event applied once, every booking cancelled, its reminders cancelled, one cancel message each."""
    found = outcomes()
    assert len(found) == 4 * count and set(found.values()) == {"applied"}
    assert db.session.scalar(select(func.count()).select_from(Booking).filter_by(status="cancelled")) == count
    rows = notifications()
    assert not [row for row in rows if row.status.value == "pending" and row.type.value != "booking_cancel"]
    assert sorted(row.type.value for row in rows if row.type.value == "booking_cancel") == ["booking_cancel"] * (
        2 * count
    )
    keys = [row.dedupe_key for row in rows]
    assert len(keys) == len(set(keys))


@pytest.mark.slow
def test_several_planners_at_once_apply_each_event_once_and_in_order(database_url, redis_url, client, tmp_path):
    count = 60
    accept_all(booking_stories(count))
    planners = [planner_process(database_url, redis_url, tmp_path, f"planner-{n}", batch=25) for n in range(3)]
    for process in planners:
        assert process.wait(120) == 0, (tmp_path / "planner-0.log").read_text()
    planned = [int((tmp_path / f"planner-{n}.log").read_text().split("planned ")[1].split()[0]) for n in range(3)]
    assert sum(planned) == 4 * count  # shared out, none twice
    assert_every_story_told_once(count)


def stopped_mid_transaction(process: subprocess.Popen, database_url: str) -> bool:
    """Stop the process; keep it stopped if it holds an open transaction that has written, else let it go on."""
    process.send_signal(signal.SIGSTOP)
    if writing_transaction_open(database_url):
        return True
    process.send_signal(signal.SIGCONT)
    time.sleep(0.01)
    return False


def writing_transaction_open(database_url: str) -> bool:
    """Whether another connection holds an uncommitted transaction that has written to the database."""
    if database_url.startswith("postgresql"):
        with db.engine.connect() as connection:
            statement = text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
            )
            return connection.scalar(statement) > 0
    # SQLite lets one writer in at a time: the write lock is taken exactly while a transaction has written.
    connection = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        connection.close()


@pytest.mark.slow
def test_a_planner_killed_mid_batch_loses_nothing_and_applies_nothing_twice(database_url, redis_url, client, tmp_path):
    count = 250
    accept_all(booking_stories(count))
    doomed = planner_process(database_url, redis_url, tmp_path, "doomed", batch=100)

    def some_planned() -> bool:
        db.session.rollback()
        done = db.session.scalar(
            select(func.count()).select_from(InboundEvent).where(InboundEvent.outcome.is_not(None))
        )
        return 0 < done < 4 * count

    assert wait_for(some_planned, 60), (tmp_path / "doomed.log").read_text()
    # Stopped, it cannot commit: the kill lands inside the transaction seen open, with writes of its own.
    assert wait_for(lambda: stopped_mid_transaction(doomed, database_url), 60), (tmp_path / "doomed.log").read_text()
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    time.sleep(0.2)
    db.session.rollback()
    left = db.session.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.outcome.is_(None)))
    assert left > 0  # killed with work still to do
    assert plan() == left
    assert_every_story_told_once(count)
    assert db.session.scalar(select(func.count()).select_from(Notification)) == len(notifications())
