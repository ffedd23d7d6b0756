"""Precision: reminders spread over a quiet period, each due at its own second."""

import random
from datetime import datetime, timedelta, timezone

from bench.burst import measure_each
from tests.support.stack import Stack, seed_reminders
from webapp.plumbing import queueing


def precision(stack: Stack, count: int, spread_seconds: int, workers: int = 2) -> dict:
    """Plan count reminders at random whole seconds over the spread; report lateness."""
    stack.reset()
    start = (datetime.now(timezone.utc) + timedelta(seconds=6)).replace(microsecond=0)
    rng = random.Random(7)
    due_times = sorted(start + timedelta(seconds=rng.randrange(spread_seconds)) for _ in range(count))
    ids = seed_reminders(stack.app, stack.receiver_url, due_times)
    with stack.app.app_context():
        queueing.arm_wakeups(due_times)  # what ingest does when it plans them
    with stack.running(workers):
        return measure_each(stack, dict(zip(ids, due_times, strict=True)), spread_seconds + 60)
