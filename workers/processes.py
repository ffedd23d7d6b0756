"""The background processes: an RQ worker, the scheduler's clock, the AMQP consumer; each on a Bellhop app."""

import logging
import os
import time

from flask import Flask
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import SimpleWorker, Worker

from webapp.extensions import db
from webapp.plumbing import heartbeats, metrics, queueing
from webapp.plumbing.amqp import TopologyConflict
from workers import jobs  # noqa: F401  imported once here, not in every forked horse
from workers.consumer import Consumer
from workers.preflight import require_noeviction
from workers.scheduler import BellhopScheduler
from workers.warmup import warm_up

log = logging.getLogger("workers")
REDIS_RETRY_SECONDS = 2


def run_worker(burst: bool, simple: bool, app: Flask) -> None:
    """Run an RQ worker on Bellhop's queue inside the app's context."""
    with app.app_context():
        redis = queueing.redis_connection()
        require_noeviction(redis)
        engine = db.engine
        # A forked work horse must not share its parent's database connections.
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
        os.register_at_fork(after_in_child=metrics.share_with_parent_after_fork)
        worker_class = SimpleWorker if simple else Worker
        if not simple:
            warm_up()
        beating = heartbeats.Beating(redis, "worker", heartbeats.process_name())
        try:
            keep_working(worker_class, redis, burst)
        finally:
            beating.stop()


def keep_working(worker_class, redis, burst: bool) -> None:
    """Run RQ workers one after another until one is asked to stop (or, in burst mode, runs out of work)."""
    while True:
        worker = worker_class([queueing.queue()], connection=redis)
        # RQ doubles its wait between reconnects up to a minute; once Redis is back, work should resume at once.
        worker.max_connection_wait_time = REDIS_RETRY_SECONDS
        try:
            worker.work(burst=burst, with_scheduler=False)
        except RedisConnectionError as error:
            log.warning("lost Redis (%s)", error)
        if burst or worker._shutdown_requested_date is not None:  # a signal asked it to stop
            return
        # RQ survives a Redis outage while it waits for work, but quits when one hits while it watches a
        # job. The rows are safe in SQL (the scheduler takes back their lost jobs), so start a new worker.
        log.warning("the RQ worker quit without being asked to; starting a new one in %s s", REDIS_RETRY_SECONDS)
        time.sleep(REDIS_RETRY_SECONDS)


def run_scheduler(burst: bool, app: Flask) -> None:
    """Run the clock that turns wake-ups into dispatch jobs, and keeps the sweep going, through Redis outages."""
    with app.app_context():
        redis = queueing.redis_connection()
        require_noeviction(redis)
        while True:
            try:
                new_clock(app.config, redis).run(burst=burst)
                return
            except (RedisConnectionError, RedisTimeoutError) as error:
                # rq-scheduler's loop ends at the first Redis error its client's retries do not cover. The
                # clock must outlive the outage: when Redis is back (empty, perhaps), the next pass recovers.
                log.warning("lost Redis (%s); the scheduler starts again in %s s", error, REDIS_RETRY_SECONDS)
                time.sleep(REDIS_RETRY_SECONDS)


def new_clock(config, redis) -> BellhopScheduler:
    """A scheduler on Bellhop's queue, polling at the configured interval."""
    return BellhopScheduler(
        queue_name=config["RQ_QUEUE"],
        connection=redis,
        interval=config["SCHEDULER_INTERVAL_SECONDS"],
        sweep_interval=config["SWEEP_INTERVAL_SECONDS"],
    )


def run_consumer(app: Flask) -> None:
    """Consume the platform's RabbitMQ queue, if AMQP_URL names a broker."""
    if not app.config["AMQP_URL"]:
        log.info("AMQP_URL is not set: no broker to consume from, so the consumer exits")
        return
    with app.app_context():
        try:
            Consumer(app.config).run()
        except TopologyConflict as error:
            log.error("cannot consume: %s", error)
            raise SystemExit(2) from None
