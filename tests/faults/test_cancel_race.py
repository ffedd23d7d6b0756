"""Cancels racing their reminders' sends, 1,000 trials at the due instant: nothing starts after a cancel commits."""

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import create_engine, select, text

from tests.support.factories import envelope, signed_headers
from tests.support.processes import log_tail, process_env, start, stop, wait_for
from tests.support.stack import seed_reminders
from webapp import queueing
from webapp.extensions import db
from webapp.models import Booking, DeliveryAttempt, Notification

pytestmark = pytest.mark.slow  # make test-fast leaves it out

TRIALS, SPREAD_SECONDS, LEAD_SECONDS = 1_000, 5.0, 4.0


def test_no_send_starts_after_its_bookings_cancel_commits(
    app,
    web_server,
    database_url,
    redis_url,
    receiver,
    tmp_path,
):
    first = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=LEAD_SECONDS)
    due = [first + timedelta(seconds=SPREAD_SECONDS * n / TRIALS) for n in range(TRIALS) for _ in (0, 1)]
    seed_reminders(app, receiver.url, due)
    queueing.arm_wakeups(due)
    env = {**process_env(database_url, redis_url), "BELLHOP_CHANNELS": "none"}
    processes = [
        start("scheduler", env, tmp_path / "scheduler.log"),
        *(start("worker", env, tmp_path / f"worker{n}.log") for n in range(2)),
    ]
    committed_by = {}  # booking -> when the cancel was seen planned: its commit happened before that
    posted = threading.Event()
    rng = random.Random(11)

    def cancel(n: int) -> None:
        # Around the due instant, a little after more often than before: a send takes a moment to start,
        # and the race is only tested where both sides can win.
        time.sleep(max(0.0, (due[2 * n] - datetime.now(timezone.utc)).total_seconds() + rng.uniform(-0.1, 0.5)))
        body = json.dumps(envelope("booking.cancelled", {"booking_id": f"b{n}"}))
        answer = requests.post(
            f"{web_server}/webhooks/events",
            data=body,
            timeout=30,
            headers={**signed_headers(body, event_id=f"cancel-{n}"), "Content-Type": "application/json"},
        )
        assert answer.status_code == 202, answer.text  # accepted: a worker plans it within moments

    def watch() -> None:
        """Note when each cancel is first seen planned, polling every 20 ms on one connection."""
        engine = create_engine(database_url)
        planned = text("SELECT event_id FROM inbound_events WHERE outcome IS NOT NULL AND event_id LIKE 'cancel-%'")
        try:
            with engine.connect() as connection:
                while len(committed_by) < TRIALS and not (posted.is_set() and time.monotonic() > deadline[0]):
                    seen = set(connection.execute(planned).scalars())
                    connection.rollback()
                    moment = datetime.now(timezone.utc)
                    for event_id in seen:
                        committed_by.setdefault(f"b{event_id.removeprefix('cancel-')}", moment)
                    time.sleep(0.02)
        finally:
            engine.dispose()

    deadline = [float("inf")]
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(cancel, range(TRIALS)))
        posted.set()
        deadline[0] = time.monotonic() + 30
        assert wait_for(lambda: settled() == 0 and len(committed_by) == TRIALS, 30), log_tail(tmp_path)
    finally:
        posted.set()
        deadline[0] = 0
        watcher.join(10)
        stop(processes, 20)
    db.session.expire_all()
    attempts = db.session.execute(
        select(Booking.external_id, DeliveryAttempt.started_at, DeliveryAttempt.outcome)
        .join(Notification, Notification.booking_id == Booking.id)
        .join(DeliveryAttempt, DeliveryAttempt.notification_id == Notification.id)
        .where(Notification.type == "booking_start")
    ).all()  # the cancel's own booking_cancel messages go out
    late = [(booking, started) for booking, started, _ in attempts if started > committed_by[booking]]
    assert late == []  # zero sends whose attempt started after the cancel committed
    sent = {booking for booking, _, outcome in attempts if outcome and outcome.value == "sent"}
    print(
        f"{TRIALS} trials: {len(sent)} bookings had a reminder out before the cancel, "
        f"{TRIALS - len(sent)} had none; {len(late)} attempts started after a cancel"
    )
    assert 0 < len(sent) < TRIALS  # the race was real: both sides won sometimes


def settled() -> int:
    """Rows still on their way (pending and due, queued or being sent)."""
    db.session.expire_all()
    open_rows = select(Notification.id).where(Notification.status.in_(("queued", "processing")))
    return len(db.session.scalars(open_rows).all())
