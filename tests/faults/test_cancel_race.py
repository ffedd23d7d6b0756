"""Cancels and moves racing their reminders' sends, 1,000 trials at the due instant, with the planner held back.

The promise is measured from the moment Bellhop answered: the 202, or the commit that comes before the ack. The
planner leaves every event waiting for HOLD_SECONDS (BELLHOP_PLANNER_DELAY), as a planner that far behind would,
so no trial is saved by the planner winning the race.
"""

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pika
import pytest
import requests
from sqlalchemy import create_engine, func, select, text

from tests.support.factories import envelope, signed_headers
from tests.support.processes import log_tail, process_env, start, stop, wait_for
from tests.support.rabbitmq import own_topology
from tests.support.stack import seed_reminders
from webapp.extensions import db
from webapp.models import Booking, DeliveryAttempt, InboundEvent, Notification, NotificationStatus
from webapp.plumbing import amqp, queueing

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cancel_race")]  # make test-fast leaves it out

TRIALS, SPREAD_SECONDS, LEAD_SECONDS = 1_000, 5.0, 4.0
# Longer than the whole race: every cancel and move still waits in the inbox when its reminders fall due.
HOLD_SECONDS = 20
MOVED_TO = timedelta(days=1)


@pytest.fixture
def planner_delay() -> int:
    """How far behind the workers' planner stays (BELLHOP_PLANNER_DELAY)."""
    return HOLD_SECONDS


@pytest.fixture
def race(app, database_url, redis_url, receiver, tmp_path, planner_delay):
    """Reminders for TRIALS bookings due over a few seconds, a scheduler and two workers whose planner lags."""
    first = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=LEAD_SECONDS)
    due = [first + timedelta(seconds=SPREAD_SECONDS * n / TRIALS) for n in range(TRIALS) for _ in (0, 1)]
    seeded = seed_reminders(app, receiver.url, due)
    queueing.arm_wakeups(due)
    env = {
        **process_env(database_url, redis_url),
        "BELLHOP_CHANNELS": "none",
        "BELLHOP_PLANNER_DELAY": str(planner_delay),
    }
    processes = [
        start("scheduler", env, tmp_path / "scheduler.log"),
        *(start("worker", env, tmp_path / f"worker{n}.log") for n in range(2)),
    ]
    yield Race(due[::2], seeded, tmp_path)
    stop(processes, 20)


class Race:
    """The trials' due times, the seeded reminder ids, and when Bellhop answered for each booking's event."""

    def __init__(self, due: list[datetime], seeded: list[int], logs):
        self.due, self.seeded, self.logs = due, seeded, logs
        self.answered: dict[str, datetime] = {}
        # No send can start before its reminder's wake-up, the whole second after its due time.
        self.woken = [datetime.fromtimestamp(queueing.wakeup_second(moment), timezone.utc) for moment in due]
        rng = random.Random(11)
        # Most events come from 0.2 s before the wake-up to 1.5 s after it, where either side can win; one in
        # five 1.5 to 8 s after, where the send has usually left, so the test always covers both outcomes. With
        # the planner keeping up on PostgreSQL, two workers send these 2,000 reminders 1 to 4 s after their due
        # time on a quiet machine, later on a busy one.
        self.offsets = [rng.uniform(-0.2, 1.5) if rng.random() < 0.8 else rng.uniform(1.5, 8.0) for _ in due]

    def moment(self, n: int) -> float:
        """Seconds from now to the n-th trial's event: most close to its wake-up, some well after it."""
        return (self.woken[n] - datetime.now(timezone.utc)).total_seconds() + self.offsets[n]

    def in_order(self) -> list[int]:
        """The trials by when their events go, so a sender that sleeps until one never holds up an earlier one."""
        return sorted(range(len(self.due)), key=self.moment)

    def settle(self) -> None:
        """Wait until the planner has applied every event and nothing due is left to send."""
        assert wait_for(lambda: unsettled() == 0, 2 * HOLD_SECONDS + 30), log_tail(self.logs)

    def late_attempts(self) -> list[tuple[str, datetime]]:
        """Attempts on the seeded reminders that started after Bellhop answered for their booking's event."""
        db.session.expire_all()
        rows = db.session.execute(
            select(Booking.external_id, DeliveryAttempt.started_at)
            .join(Notification, Notification.booking_id == Booking.id)
            .join(DeliveryAttempt, DeliveryAttempt.notification_id == Notification.id)
            .where(Notification.id.in_(self.seeded))
        ).all()
        self.sent = {booking for booking, _ in rows}
        return [(booking, started) for booking, started in rows if started > self.answered[booking]]

    def report(self, late: list) -> None:
        """Print the figures."""
        print(
            f"{TRIALS} trials: {len(self.sent)} bookings had a reminder out before Bellhop answered, "
            f"{TRIALS - len(self.sent)} had none; {len(late)} attempts started after it answered"
        )


def post_at(web_server: str, race: Race, event_type: str, payload) -> None:
    """Post each trial's event through the web tier at its moment; note when its 202 came back."""

    def post(n: int) -> None:
        time.sleep(max(0.0, race.moment(n)))
        body = json.dumps(envelope(event_type, payload(n)))
        headers = {**signed_headers(body, event_id=f"race-{n}"), "Content-Type": "application/json"}
        answer = requests.post(f"{web_server}/webhooks/events", data=body, timeout=30, headers=headers)
        assert answer.status_code == 202, answer.text
        race.answered[f"b{n}"] = datetime.now(timezone.utc)  # the event was committed before this

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(post, race.in_order()))


def test_no_reminder_starts_after_its_bookings_cancel_is_answered_202(app, race, web_server):
    post_at(web_server, race, "booking.cancelled", lambda n: {"booking_id": f"b{n}"})
    race.settle()
    late = race.late_attempts()
    race.report(late)
    assert late == []  # zero sends started after the cancel's 202, with the planner 20 s behind
    assert 0 < len(race.sent) < TRIALS  # the race was real: both sides won sometimes
    assert cancelled_unsent() == TRIALS - len(race.sent)  # what was held back ended cancelled, not sent


@pytest.mark.parametrize("planner_delay", [0])
def test_cancels_planned_while_their_reminders_go_out_neither_deadlock_nor_send_late(app, race, web_server):
    """The planner cancels bookings while the workers claim and send the same rows: nothing waits on the other."""
    post_at(web_server, race, "booking.cancelled", lambda n: {"booking_id": f"b{n}"})
    race.settle()
    late = race.late_attempts()
    race.report(late)
    assert late == []
    assert 0 < len(race.sent) < TRIALS
    assert cancelled_unsent() == TRIALS - len(race.sent)


def test_no_old_time_reminder_starts_after_its_reschedule_is_answered_202(app, race, web_server):
    def moved(n: int) -> dict:
        return {"booking_id": f"b{n}", "scheduled_time": (race.due[n] + MOVED_TO).isoformat()}

    post_at(web_server, race, "booking.rescheduled", moved)
    race.settle()
    late = race.late_attempts()
    race.report(late)
    assert late == []  # no reminder for the old time started after the move's 202
    assert 0 < len(race.sent) < TRIALS
    db.session.expire_all()
    new_starts = select(func.count()).where(
        Notification.type == "booking_start", Notification.status == NotificationStatus.PENDING
    )
    assert db.session.scalar(new_starts) == 2 * TRIALS  # each booking's start reminders, at its new time


@pytest.fixture
def config_overrides(request):
    """For the test that publishes: an exchange and queue of its own on the run's RabbitMQ node."""
    return own_topology(request.getfixturevalue("rabbit")) if "consumers" in request.fixturenames else {}


def test_no_reminder_starts_after_its_bookings_cancel_is_acked_over_amqp(app, race, consumers, database_url):
    consumers(BELLHOP_PLANNER_DELAY=str(HOLD_SECONDS))
    seen = watch_inbox(database_url, race)
    publish_on_time(app.config, race)
    seen.join(60)
    race.settle()
    late = race.late_attempts()
    race.report(late)
    assert late == []  # zero sends started after the cancel was committed, which comes before its ack
    assert 0 < len(race.sent) < TRIALS
    assert cancelled_unsent() == TRIALS - len(race.sent)


def publish_on_time(config, race: Race) -> None:
    """Publish each trial's cancel to the platform's exchange at its moment, confirmed by the broker."""
    connection = amqp.connect(config["AMQP_URL"])
    channel = connection.channel()
    amqp.declare(channel, amqp.Topology.from_config(config))
    channel.confirm_delivery()
    for n in race.in_order():
        time.sleep(max(0.0, race.moment(n)))
        channel.basic_publish(
            config["AMQP_EXCHANGE"],
            "booking.cancelled",
            json.dumps(envelope("booking.cancelled", {"booking_id": f"b{n}"})).encode(),
            properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, message_id=f"race-{n}"),
        )
    connection.close()


def watch_inbox(database_url: str, race: Race) -> threading.Thread:
    """Note when each cancel is first seen in the inbox, polling every 5 ms: its commit came before that."""

    def watch() -> None:
        engine = create_engine(database_url)
        stored = text("SELECT event_id FROM inbound_events WHERE event_id LIKE 'race-%'")
        deadline = time.monotonic() + LEAD_SECONDS + SPREAD_SECONDS + 30
        try:
            with engine.connect() as connection:
                while len(race.answered) < TRIALS and time.monotonic() < deadline:
                    found = set(connection.execute(stored).scalars())
                    connection.rollback()
                    moment = datetime.now(timezone.utc)
                    for event_id in found:
                        race.answered.setdefault(f"b{event_id.removeprefix('race-')}", moment)
                    time.sleep(0.005)
        finally:
            engine.dispose()

    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


def unsettled() -> int:
    """Events still waiting, and rows still on their way (due and pending, queued or being sent)."""
    db.session.expire_all()
    db.session.rollback()
    waiting = db.session.scalar(select(func.count()).where(InboundEvent.outcome.is_(None)))
    due = (Notification.status == NotificationStatus.PENDING) & (Notification.due_at <= datetime.now(timezone.utc))
    moving = Notification.status.in_((NotificationStatus.QUEUED, NotificationStatus.PROCESSING)) | due
    return waiting + db.session.scalar(select(func.count()).where(moving))


def cancelled_unsent() -> int:
    """Bookings none of whose start reminders went out, all of them cancelled."""
    db.session.expire_all()
    rows = db.session.execute(
        select(Notification.booking_id, Notification.status).where(Notification.type == "booking_start")
    ).all()
    by_booking: dict[int, set] = {}
    for booking_id, status in rows:
        by_booking.setdefault(booking_id, set()).add(status)
    return sum(1 for statuses in by_booking.values() if statuses == {NotificationStatus.CANCELLED})
