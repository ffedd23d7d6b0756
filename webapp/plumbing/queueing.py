"""Redis and RQ handles, and the wake-ups that make dispatch run on time.

The web side enqueues by dotted path only, so it never imports the worker modules.
"""

import math
import time
from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from redis import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue
from rq.job import Job
from rq.utils import str_to_date
from rq_scheduler import Scheduler

from webapp.plumbing import outages

DISPATCH_JOB = "workers.jobs.dispatch_due"
PLAN_JOB = "workers.jobs.plan_inbox"
# Set while a planning job is queued or running: a burst of events enqueues one job, not one each. The job
# renews it between batches; it expires, so a job lost with a worker holds the planner back for 30 s at most.
PLANNER_WAKE_SECONDS = 30
WAKEUP_PREFIX = "bellhop-wakeup-"
# A wake-up is only a nudge; once it ran, its record is not worth keeping.
WAKEUP_RESULT_TTL = 60
ARMED_MEMO_SIZE, ARMED_MEMO_SECONDS = 10_000, 600
# The memo only speaks for wake-ups that cannot have fired yet: a second still ahead of the clock, with
# room for a scheduler whose clock runs a little fast.
MEMO_TRUST_SECONDS = 0.25
# redis-py's default retries sleep up to 14 s (jittered) before a command gives up, and again after Redis is
# back. Bellhop's own loops restart the worker and scheduler after 2 s, and the web side falls back to the
# sweep, so its clients give up within about 1.5 s instead.
REDIS_SOCKET_SECONDS = 5
REDIS_RETRIES = 3


def redis_connection() -> Redis:
    """Return this app's Redis client, created once per process."""
    client = current_app.extensions.get("bellhop_redis")
    if client is None:
        config = current_app.config
        client = Redis.from_url(
            config["REDIS_URL"],
            socket_timeout=REDIS_SOCKET_SECONDS,
            socket_connect_timeout=REDIS_SOCKET_SECONDS,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), REDIS_RETRIES),
            **tls_options(config),
        )
        current_app.extensions["bellhop_redis"] = client
    return client


def tls_options(config) -> dict:
    """For a rediss:// URL: whether to verify the server's certificate, and against which CA file."""
    if not config["REDIS_URL"].startswith("rediss://"):
        return {}
    return {"ssl_cert_reqs": config["REDIS_TLS_VERIFY"], "ssl_ca_certs": config["REDIS_TLS_CA_FILE"]}


def queue() -> Queue:
    """Return the RQ queue that dispatch and delivery jobs go to."""
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_connection())


def head_enqueued_at() -> datetime | None:
    """When the job at the head of the queue was enqueued; None if the queue is empty or Redis cannot say.

    Jobs leave the queue in the order they joined; only planning jobs jump ahead, and one at the head only makes
    this later. So a job enqueued at or after this moment has not been taken by any worker yet.
    """
    work = queue()
    try:
        head = work.connection.lindex(work.key, 0)
        stamp = head and work.connection.hget(Job.key_for(head.decode()), "enqueued_at")
    except RedisError:
        return None
    return str_to_date(stamp) if stamp else None


def scheduler() -> Scheduler:
    """Return an rq-scheduler handle on Bellhop's queue."""
    return Scheduler(queue_name=current_app.config["RQ_QUEUE"], connection=redis_connection())


def wakeup_second(moment: datetime) -> int:
    """Return the whole UTC second to wake at: rounded up, so nothing is due after it runs."""
    if moment.tzinfo is None:
        raise ValueError("wake-ups take timezone-aware datetimes only")
    return math.ceil(moment.timestamp())


def arm_wakeups(moments: Iterable[datetime]) -> int:
    """Schedule one idempotent dispatch wake-up per distinct due second; return how many were written."""
    armed, soon = recently_armed(), time.time() + MEMO_TRUST_SECONDS
    # A wake-up whose second has come may have fired before this row committed: write it again.
    seconds = sorted(
        second for second in {wakeup_second(moment) for moment in moments} if second not in armed or second <= soon
    )
    if not seconds:
        return 0
    try:
        write_wakeups(scheduler(), seconds)
    except RedisError as error:
        # SQL holds the notifications; the sweep finds them even with no wake-up.
        outages.redis().failed(f"arm {len(seconds)} wake-ups (the sweep will dispatch them)", error)
        return 0
    outages.redis().answered()
    remember(armed, seconds)
    return len(seconds)


def recently_armed() -> dict[int, float]:
    """The seconds this process armed lately: reminders bunch at :00 and :30, so most are repeats.

    Skipping a repeat is safe even if Redis lost it since: the sweep re-arms every pending
    second shortly before it falls due.
    """
    return current_app.extensions.setdefault("bellhop_armed", {})


def remember(armed: dict[int, float], seconds: list[int]) -> None:
    """Note armed seconds, forgetting old ones so the memo stays small."""
    now = time.monotonic()
    if len(armed) > ARMED_MEMO_SIZE:
        for second, when in list(armed.items()):
            if now - when > ARMED_MEMO_SECONDS:
                del armed[second]
    armed.update(dict.fromkeys(seconds, now))


def write_wakeups(clock: Scheduler, seconds: list[int]) -> None:
    """Write the wake-up jobs and their times in one round trip."""
    pipe = clock.connection.pipeline(transaction=False)
    for second in seconds:
        job = clock._create_job(DISPATCH_JOB, id=f"{WAKEUP_PREFIX}{second}", result_ttl=WAKEUP_RESULT_TTL, commit=False)
        job.save(pipeline=pipe)
        pipe.zadd(clock.scheduled_jobs_key, {job.id: second})
    pipe.execute()


def planner_wake_key() -> str:
    """The Redis key held while a planning job is queued or running on this queue."""
    return f"bellhop-planner-wake:{current_app.config['RQ_QUEUE']}"


def wake_planner() -> None:
    """Enqueue a planning job, at the front of the queue, unless one is queued or running already.

    One planning job at a time: a second would only wait on the planner lock, holding a worker that
    could be sending.
    """
    try:
        if take_planner_role():
            queue().enqueue(PLAN_JOB, at_front=True, result_ttl=WAKEUP_RESULT_TTL, failure_ttl=3600, job_timeout=3600)
    except RedisError as error:
        # SQL holds the event; the sweep wakes the planner again.
        outages.redis().failed("wake the planner (the sweep will)", error)
        return
    outages.redis().answered()


def take_planner_role() -> bool:
    """Mark a planning job as queued or running; False when one already is."""
    return bool(redis_connection().set(planner_wake_key(), 1, nx=True, ex=PLANNER_WAKE_SECONDS))


def planner_still_running() -> None:
    """A planning job between batches: keep its mark from expiring while it works through a long inbox."""
    try:
        redis_connection().expire(planner_wake_key(), PLANNER_WAKE_SECONDS)
    except RedisError as error:
        outages.redis().failed("renew the planner's mark (it expires on its own)", error)


def planner_finished() -> None:
    """A planning job found the inbox empty: the next event wakes a new one."""
    redis_connection().delete(planner_wake_key())
