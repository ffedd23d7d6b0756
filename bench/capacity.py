"""Capacity: CPU per unit of work for each process, the database's commit rate, and a model checked here.

Each phase runs alone on a quiet stack and reads the CPU seconds of every process tree from /proc, so
a figure is CPU ms per accepted event, per planned event, per sent message and per dashboard poll, for
the web, the workers, the database and Redis separately. docs/capacity.md turns them into a model;
the last phase checks it: a burst sent by 1, 2 and 4 worker processes, against the throughput the
model predicts from the 1-worker phase and this machine's cores.
"""

import os
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from bench import dashboard, ingest
from bench.cpu import postmaster_pid, tree_seconds
from bench.sustained import wait_planned
from tests.support.processes import stop
from tests.support.stack import Stack, seed_reminders
from webapp.domain.staff import accounts
from webapp.extensions import db
from webapp.models import Role
from webapp.plumbing import queueing

SETTLE_SECONDS = 4  # for processes to import and warm up before their CPU is counted
SEED_SECONDS = 5  # ahead of the burst's due second: longer than seeding its rows takes


class Meter:
    """CPU seconds per role (web, workers, database, redis), between start and stop."""

    def __init__(self, stack: Stack, roles: dict[str, list[int]]):
        self.roles = {**roles, "database": postmaster_pid(stack.pg_dir), "redis": [stack.redis_process.pid]}
        self.used: dict[str, float] = {}

    @contextmanager
    def counting(self):
        before = {role: tree_seconds(pids) for role, pids in self.roles.items()}
        started = time.monotonic()
        yield self
        self.wall = time.monotonic() - started
        self.used = {role: tree_seconds(pids) - before[role] for role, pids in self.roles.items()}

    def per_unit_ms(self, units: int) -> dict[str, float]:
        return {role: 1000 * seconds / max(units, 1) for role, seconds in self.used.items()}


def accept_and_plan(stack: Stack, count: int) -> dict:
    """CPU per accepted event (gunicorn, no workers), then per planned event (one worker, woken once)."""
    stack.reset()
    web, url = ingest.serve(stack, "wsgi:app")
    try:
        ingest.load(url, ingest.signed_requests(100, stack.receiver_url))  # warm the web workers
        meter = Meter(stack, {"web": [web.pid]})
        with meter.counting():
            accepted = ingest.load(url, ingest.signed_requests(count, stack.receiver_url))
    finally:
        stop([web])
    with stack.app.app_context():
        queueing.redis_connection().flushall()  # the events wait in SQL; the planner is woken below
    # Pending webhook rows, as in production; with no scheduler none is dispatched while planning is metered.
    with stack.running(1, scheduler=False) as started:
        time.sleep(SETTLE_SECONDS)
        planning = Meter(stack, {"workers": [process.pid for process in started]})
        with planning.counting():
            with stack.app.app_context():
                queueing.wake_planner()
            complete = wait_planned(stack, count + 100, 600)
    return {
        "accepted": accepted["accepted"],
        "accept_rate": accepted["throughput"],
        "accept_ms": meter.per_unit_ms(accepted["accepted"]),
        "planned": count + 100,
        "plan_rate": (count + 100) / planning.wall,
        "plan_ms": planning.per_unit_ms(count + 100),
        "complete": complete,
    }


def send(stack: Stack, count: int, workers: int) -> dict:
    """CPU per sent webhook message and the throughput of a burst sent by this many worker processes."""
    stack.reset()
    with stack.running(workers) as started:
        time.sleep(SETTLE_SECONDS)
        # Seeded before the meter starts: inserting the rows is the benchmark's cost, not Bellhop's.
        due = (datetime.now(timezone.utc) + timedelta(seconds=SEED_SECONDS)).replace(microsecond=0)
        seed_reminders(stack.app, stack.receiver_url, [due] * count)
        with stack.app.app_context():
            queueing.arm_wakeups([due])
        meter = Meter(stack, {"workers": [process.pid for process in started]})
        with meter.counting():
            complete = stack.wait_for_arrivals(count, 600)
    arrivals = stack.arrivals()
    first, last = min(arrived for _, arrived in arrivals), max(arrived for _, arrived in arrivals)
    return {
        "workers": workers,
        "count": count,
        "received": len(arrivals),
        "distinct": len({notification_id for notification_id, _ in arrivals}),
        "complete": complete,
        "throughput": count / (last - first) if complete else 0.0,
        "send_ms": meter.per_unit_ms(count),
    }


def dashboard_polls(stack: Stack, dashboards: int, seconds: float) -> dict:
    """CPU per live-status poll of the dashboards open in browsers (each polls twice a second)."""
    stack.reset()
    with stack.app.app_context():
        accounts.create(dashboard.ADMIN, dashboard.PASSWORD, Role.ADMIN)
        db.session.commit()
    process, base = dashboard.serve(stack)
    try:
        with dashboard.Pollers(base, dashboards) as pollers:
            time.sleep(2)
            meter = Meter(stack, {"web": [process.pid]})
            before = pollers.requests
            with meter.counting():
                time.sleep(seconds)
            polls = pollers.requests - before
    finally:
        stop([process])
    return {"polls": polls, "poll_ms": meter.per_unit_ms(polls)}


def commit_rate(stack: Stack, connections: int = 4, seconds: float = 5) -> dict:
    """Single-row INSERT and COMMIT per second against the stack's database, from several connections."""
    with stack.app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS bench_commits"))
            connection.execute(text("CREATE TABLE bench_commits (at TEXT)"))
        engine, counts = db.engine, [0] * connections
        stop = time.monotonic() + seconds

        def commit_loop(slot: int) -> None:
            with engine.connect() as connection:
                while time.monotonic() < stop:
                    connection.execute(text("INSERT INTO bench_commits (at) VALUES (:at)"), {"at": "x"})
                    connection.commit()
                    counts[slot] += 1

        threads = [threading.Thread(target=commit_loop, args=(slot,)) for slot in range(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE bench_commits"))
    return {"connections": connections, "commits_per_second": sum(counts) / seconds}


def predicted_throughput(one_worker: dict, workers: int, cores: int) -> float:
    """The model: n workers each as fast as one alone, until this machine's cores run out.

    Every process here shares the cores, so the ceiling is cores divided by the CPU all roles spend
    per message (workers, database, Redis, and the receiver standing in for the recipients).
    """
    per_message_ms = sum(one_worker["send_ms"].values()) + one_worker["receiver_ms"]
    return min(workers * one_worker["throughput"], cores * 1000 / per_message_ms)


def capacity(stack: Stack, events: int, messages: int, worker_counts: tuple[int, ...], polls_seconds: float) -> dict:
    """Every phase on one backend, and the model's prediction for each worker count beside the measurement."""
    figures = {"cores": os.cpu_count(), "plan": accept_and_plan(stack, events)}
    figures["sends"] = []
    for workers in worker_counts:
        receiver_before = tree_seconds([stack.receiver.pid])
        result = send(stack, messages, workers)
        result["receiver_ms"] = 1000 * (tree_seconds([stack.receiver.pid]) - receiver_before) / messages
        figures["sends"].append(result)
    for result in figures["sends"]:
        result["predicted"] = predicted_throughput(figures["sends"][0], result["workers"], figures["cores"])
    figures["dashboard"] = dashboard_polls(stack, 5, polls_seconds)
    figures["commits"] = commit_rate(stack)
    figures["complete"] = figures["plan"]["complete"] and all(result["complete"] for result in figures["sends"])
    return figures
