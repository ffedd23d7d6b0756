"""Wake-ups: one per due second, armed idempotently, and never trusted once their second has come."""

import time
from datetime import datetime, timedelta, timezone

from webapp import queueing


def scheduled_seconds(redis, app) -> list[int]:
    clock = queueing.scheduler()
    return sorted(int(score) for _, score in redis.zrange(clock.scheduled_jobs_key, 0, -1, withscores=True))


def test_rows_due_in_one_second_share_one_wake_up(app, redis):
    due = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert queueing.arm_wakeups([due, due + timedelta(milliseconds=1)]) == 1
    assert queueing.arm_wakeups([due]) == 0  # remembered: no second write
    assert scheduled_seconds(redis, app) == [queueing.wakeup_second(due)]


def test_a_row_committed_after_its_seconds_wake_up_fired_gets_a_new_one(app, redis):
    """A slow commit can land after the wake-up for its second already ran; the memo must not hide that."""
    due = datetime.now(timezone.utc) + timedelta(milliseconds=300)
    assert queueing.arm_wakeups([due]) == 1
    clock = queueing.scheduler()
    redis.zrem(clock.scheduled_jobs_key, f"{queueing.WAKEUP_PREFIX}{queueing.wakeup_second(due)}")  # it fired
    time.sleep(max(0.0, queueing.wakeup_second(due) - time.time()) + 0.05)  # its second has come
    assert queueing.arm_wakeups([due]) == 1  # written again, so the late row is dispatched at once
    assert scheduled_seconds(redis, app) == [queueing.wakeup_second(due)]
