"""On time under a provider's rate: a cluster of 1 h reminders on a channel allowed so many a second.

Two stacks run side by side on the same machine: the baseline with early sending off, and Bellhop
with a 1 h reminder allowed to leave up to `tolerance` seconds early. Each message's offset is its
arrival at the receiver minus its scheduled time: negative is early, positive is late.
"""

import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

from bench.stats import percentile
from tests.support.stack import (
    Stack,
    insert_in_chunks,
    refresh_statistics,
    reminder_row,
    seed_bookings,
    seed_people,
)
from webapp.domain.sending.send_early import per_second
from webapp.extensions import db
from webapp.models import Notification
from webapp.plumbing import queueing

SETTLE_SECONDS = 20  # time for the processes to start and the first sweep to pack the cluster


def early(stack: Stack, count: int, rate: int, tolerance: int, timeout: float = 1200) -> dict:
    """Send count 1 h reminders due in one second over a channel limited to rate a second, with and without."""
    baseline_stack = Stack(stack.backend)
    try:
        stacks = {"baseline": baseline_stack, "bellhop": stack}
        # Bellhop's cluster is far enough ahead for the whole cluster to fit before it; the baseline's is soon.
        lead = {"baseline": SETTLE_SECONDS, "bellhop": count / per_second(rate) + SETTLE_SECONDS}
        due = {name: seed_cluster(each, count, lead[name]) for name, each in stacks.items()}
        env = {"BELLHOP_PROVIDER_RATES": f"webhook={rate}"}
        early_setting = {"baseline": "off", "bellhop": f"booking_1h={tolerance}"}
        with ExitStack() as running:
            for name, each in stacks.items():
                running.enter_context(each.running(2, **env, BELLHOP_SEND_EARLY_SECONDS=early_setting[name]))
            complete = wait_for_all(stacks.values(), count, timeout)
        return {
            "count": count,
            "rate": rate,
            "tolerance": tolerance,
            "complete": complete,
            **{name: offsets(stacks[name], due[name], count, tolerance) for name in stacks},
        }
    finally:
        baseline_stack.close()


def seed_cluster(stack: Stack, count: int, lead: float) -> datetime:
    """Insert count 1 h reminders, as planning would, due in one second lead seconds from now; return it."""
    stack.reset()
    due = (datetime.now(timezone.utc) + timedelta(seconds=lead)).replace(microsecond=0)
    start = due + timedelta(hours=1)
    with stack.app.app_context():
        people = seed_people(stack.receiver_url)
        bookings = seed_bookings(people, [start] * ((count + 1) // 2))
        rows = [reminder(n, due, bookings[n // 2]) for n in range(count)]
        insert_in_chunks(Notification, rows)
        db.session.commit()
        refresh_statistics()
        queueing.arm_wakeups([due])
    return due


def reminder(n: int, due: datetime, booking: dict) -> dict:
    """The n-th 1 h reminder: the stack's reminder row, as the 1 h type."""
    return {**reminder_row(n, due, booking, "pending"), "type": "booking_1h", "dedupe_key": f"bench-early:{n}"}


def wait_for_all(stacks, count: int, timeout: float) -> bool:
    """Wait until every stack's receiver has count messages."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(each.received() >= count for each in stacks):
            return True
        time.sleep(1)
    return False


def offsets(stack: Stack, due: datetime, count: int, tolerance: int) -> dict:
    """Arrival minus scheduled time per message: early and late counts, percentiles, distinct arrivals."""
    arrivals = stack.arrivals()
    offset = [arrived - due.timestamp() for _, arrived in arrivals]
    late = [value for value in offset if value > 1.0]  # a second's grace: the wake-up's own precision
    return {
        "count": count,
        "received": len(arrivals),
        "distinct": len({notification_id for notification_id, _ in arrivals}),
        "complete": len(arrivals) >= count,
        "late": len(late),
        "too_early": sum(value < -tolerance for value in offset),
        "earliest": min(offset, default=float("nan")),
        "lateness_p99": percentile([max(0.0, value) for value in offset], 0.99),
        "lateness_max": max(offset, default=float("nan")),
    }
