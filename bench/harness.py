"""A private Bellhop stack for one benchmark run: Redis, a database, a receiver, real processes."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests
from flask_migrate import upgrade
from sqlalchemy import delete, insert

from tests import services
from webapp import create_app, queueing
from webapp.config import PROJECT_ROOT, Config
from webapp.extensions import db
from webapp.models import Booking, Notification, Recipient

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OUTBOUND = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


class Stack:
    """Servers and processes for one backend; every benchmark of that backend shares them."""

    def __init__(self, backend: str):
        self.backend = backend
        self.workdir = Path(tempfile.mkdtemp(prefix=f"bellhop-bench-{backend}-"))
        self.redis_process, self.redis_url = services.start_redis(self.workdir)
        self.stop_db, self.pg_dir = None, None
        if backend == "sqlite":
            self.database_url = f"sqlite:///{self.workdir / 'bench.db'}"
        else:
            # Its own directory: the postgres user cannot enter this root-only one.
            self.pg_dir = Path(tempfile.mkdtemp(prefix="bellhop-bench-pg-"))
            self.stop_db, self.database_url = services.start_postgres(self.pg_dir)
        self.receiver_port = services.free_port()
        self.receiver = self.spawn("receiver", [sys.executable, "-m", "bench.receiver", str(self.receiver_port)])
        services.wait_for_port(self.receiver_port)
        self.processes: list[subprocess.Popen] = []
        self.app = create_app(type("BenchConfig", (Config,), self.settings()))
        with self.app.app_context():
            upgrade()

    @property
    def receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver_port}/hook"

    def settings(self) -> dict:
        return {
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "REDIS_URL": self.redis_url,
            "WEBHOOK_SECRETS": [SECRET],
            "OUTBOUND_WEBHOOK_SECRET": OUTBOUND,
            "CHANNELS": [],
            "WEBHOOK_ALLOWLIST": ["127.0.0.1"],
        }

    def env(self, **extra) -> dict:
        """Environment for Bellhop processes pointed at this stack."""
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "BELLHOP_WEBHOOK_SECRETS": SECRET,
            "BELLHOP_OUTBOUND_WEBHOOK_SECRET": OUTBOUND,
            "BELLHOP_CHANNELS": "",
            "BELLHOP_WEBHOOK_ALLOWLIST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def spawn(self, name: str, command: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "a")
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env or self.env(), stdout=log, stderr=subprocess.STDOUT)

    @contextmanager
    def running(self, workers: int, scheduler: bool = True, simple: bool = False, **env):
        """Run the scheduler and this many RQ workers (forking unless simple) for the duration of the block."""
        command = [sys.executable, "-m", "workers", "worker"] + (["--simple"] if simple else [])
        started = [self.spawn(f"worker{n}", command, self.env(**env)) for n in range(workers)]
        if scheduler:
            started.append(self.spawn("scheduler", [sys.executable, "-m", "workers", "scheduler"], self.env(**env)))
        try:
            yield started
        finally:
            for process in started:
                process.terminate()
            for process in started:
                process.wait(30)

    def reset(self) -> None:
        """Empty the tables, Redis and the receiver between benchmarks."""
        with self.app.app_context():
            for table in reversed(db.metadata.sorted_tables):
                db.session.execute(delete(table))
            db.session.commit()
            if self.backend == "postgresql":
                # The last run's deleted rows would otherwise be vacuumed in the middle of the next one.
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.exec_driver_sql("VACUUM ANALYZE")
            queueing.redis_connection().flushall()
        requests.post(f"http://127.0.0.1:{self.receiver_port}/reset", timeout=10)

    def arrivals(self) -> list[tuple[int, float]]:
        return requests.get(f"http://127.0.0.1:{self.receiver_port}/stats", timeout=30).json()["arrivals"]

    def received(self) -> int:
        return requests.get(f"http://127.0.0.1:{self.receiver_port}/stats", timeout=30).json()["count"]

    def wait_for_arrivals(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.received() >= count:
                return True
            time.sleep(0.25)
        return False

    def close(self) -> None:
        self.receiver.terminate()
        self.redis_process.terminate()
        if self.stop_db:
            subprocess.run(self.stop_db, capture_output=True)
        with self.app.app_context():
            db.engine.dispose()
        for directory in (self.workdir, self.pg_dir):
            if directory:
                shutil.rmtree(directory, ignore_errors=True)


def seed_reminders(stack: Stack, due_times: list, status: str = "pending") -> list[int]:
    """Insert one booking_start reminder per due time (two per booking), as planning would."""
    with stack.app.app_context():
        people = [
            {
                "external_id": f"p{n}",
                "name": f"Person {n}",
                "webhook_url": stack.receiver_url,
                "timezone": "Europe/Berlin",
                "locale": "en",
            }
            for n in range(200)
        ]
        db.session.execute(insert(Recipient), people)
        ids = dict(db.session.execute(db.select(Recipient.external_id, Recipient.id)).all())
        bookings = [
            {
                "external_id": f"b{n}",
                "client_id": ids[f"p{n % 100}"],
                "expert_id": ids[f"p{100 + n % 100}"],
                "service_name": "Code Review",
                "starts_at": due,
                "ends_at": due.replace(year=due.year + 1),
                "status": "accepted",
            }
            for n, due in enumerate(due_times[::2])
        ]
        for chunk in range(0, len(bookings), 5000):
            db.session.execute(insert(Booking), bookings[chunk : chunk + 5000])
        booking_ids = dict(db.session.execute(db.select(Booking.external_id, Booking.id)).all())
        rows = []
        for n, due in enumerate(due_times):
            booking = bookings[n // 2]
            person = booking["client_id"] if n % 2 == 0 else booking["expert_id"]
            rows.append(
                {
                    "booking_id": booking_ids[booking["external_id"]],
                    "recipient_id": person,
                    "type": "booking_start",
                    "channel": "webhook",
                    "status": status,
                    "scheduled_at": due,
                    "due_at": due,
                    "booking_starts_at": booking["starts_at"],
                    "attempts": 0,
                    "dedupe_key": f"bench:{n}",
                }
            )
        for chunk in range(0, len(rows), 5000):
            db.session.execute(insert(Notification), rows[chunk : chunk + 5000])
        db.session.commit()
        refresh_statistics(stack)
        return list(db.session.scalars(db.select(Notification.id).order_by(Notification.id)))


def refresh_statistics(stack: Stack) -> None:
    """Let PostgreSQL's planner see the rows just seeded, as a live database's statistics would."""
    if stack.backend == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
