"""Wake-ups: one per due second, armed idempotently, and never trusted once their second has come."""

import time
from datetime import datetime, timedelta, timezone

from webapp.plumbing import queueing
from workers.scheduler import SWEEP_JOB_ID, BellhopScheduler


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


def clock_for(app) -> BellhopScheduler:
    return BellhopScheduler(
        queue_name=app.config["RQ_QUEUE"],
        connection=queueing.redis_connection(),
        interval=1,
        sweep_interval=app.config["SWEEP_INTERVAL_SECONDS"],
    )


def test_a_sweep_still_waiting_in_a_backlog_is_not_queued_again(app, redis):
    app.config["SWEEP_INTERVAL_SECONDS"] = 1
    clock = clock_for(app)
    for _ in range(4):  # no worker runs: every turn of the sweep falls due behind the last
        clock.enqueue_jobs()
        time.sleep(1.1)
    job_ids = [job_id for job_id in queueing.queue().job_ids if job_id == SWEEP_JOB_ID]
    assert job_ids == [SWEEP_JOB_ID]
    assert SWEEP_JOB_ID in clock  # its next turn is still scheduled


def test_the_sweeps_record_outlives_a_turn_that_waits_in_the_queue(app, redis, run_jobs):
    """The scheduler takes a sweep with no record for one lost with Redis, and sends queued rows again."""
    run_jobs()  # a turn of the sweep ran
    assert redis.exists(f"rq:job:{SWEEP_JOB_ID}") and redis.ttl(f"rq:job:{SWEEP_JOB_ID}") == -1  # no expiry
