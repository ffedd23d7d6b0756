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
from sqlalchemy import insert

from tests.support import services
from tests.support.apps import clear_tables
from tests.support.processes import procfile_command, stop
from webapp import create_app
from webapp.commands import migrations
from webapp.extensions import db
from webapp.flask_config import PROJECT_ROOT, load_config
from webapp.models import Booking, Notification, Recipient
from webapp.plumbing import queueing

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
        receiver = [sys.executable, "-m", "tests.support.counting_receiver", str(self.receiver_port)]
        self.receiver = self.spawn("receiver", receiver)
        services.wait_for_port(self.receiver_port)
        self.processes: list[subprocess.Popen] = []
        self.app = create_app(type("BenchConfig", (load_config(BELLHOP_ENV="test"),), self.settings()))
        migrations.prepare(self.app)
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
            "BELLHOP_ENV": "test",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "BELLHOP_WEBHOOK_SECRETS": SECRET,
            "BELLHOP_OUTBOUND_WEBHOOK_SECRET": OUTBOUND,
            "BELLHOP_CHANNELS": "none",  # an empty value would mean the default, the log channel
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
        settings = self.env(**env)
        worker = procfile_command("worker", settings) + (["--simple"] if simple else [])
        started = [self.spawn(f"worker{n}", worker, settings) for n in range(workers)]
        if scheduler:
            started.append(self.spawn("scheduler", procfile_command("scheduler", settings), settings))
        try:
            yield started
        finally:
            stop(started)

    def reset(self) -> None:
        """Empty the tables, Redis and the receiver between benchmarks."""
        with self.app.app_context():
            clear_tables()
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


def seed_reminders(app, receiver_url: str, due_times: list, status: str = "pending") -> list[int]:
    """Insert one booking_start reminder per due time (two per booking), as planning would; return their ids."""
    with app.app_context():
        people = seed_people(receiver_url)
        bookings = seed_bookings(people, due_times[::2])
        rows = [reminder_row(n, due, bookings[n // 2], status) for n, due in enumerate(due_times)]
        insert_in_chunks(Notification, rows)
        db.session.commit()
        refresh_statistics()
        return list(db.session.scalars(db.select(Notification.id).order_by(Notification.id)))


def seed_people(receiver_url: str) -> dict[str, int]:
    """Two hundred people whose webhook is the receiver; return their ids by external id."""
    people = [
        {
            "external_id": f"p{n}",
            "name": f"Person {n}",
            "webhook_url": receiver_url,
            "timezone": "Europe/Berlin",
            "locale": "en",
        }
        for n in range(200)
    ]
    db.session.execute(insert(Recipient), people)
    return dict(db.session.execute(db.select(Recipient.external_id, Recipient.id)).all())


def seed_bookings(people: dict[str, int], starts: list) -> list[dict]:
    """One accepted booking per start among the people; return the rows with their ids."""
    bookings = [
        {
            "external_id": f"b{n}",
            "client_id": people[f"p{n % 100}"],
            "expert_id": people[f"p{100 + n % 100}"],
            "service_name": "Code Review",
            "starts_at": due,
            "ends_at": due.replace(year=due.year + 1),
            "status": "accepted",
        }
        for n, due in enumerate(starts)
    ]
    insert_in_chunks(Booking, bookings)
    ids = dict(db.session.execute(db.select(Booking.external_id, Booking.id)).all())
    return [{**booking, "id": ids[booking["external_id"]]} for booking in bookings]


def reminder_row(n: int, due, booking: dict, status: str) -> dict:
    """The n-th reminder: to the client when n is even, to the expert when odd."""
    return {
        "booking_id": booking["id"],
        "recipient_id": booking["client_id"] if n % 2 == 0 else booking["expert_id"],
        "type": "booking_start",
        "channel": "webhook",
        "status": status,
        "scheduled_at": due,
        "due_at": due,
        "booking_starts_at": booking["starts_at"],
        "attempts": 0,
        "dedupe_key": f"bench:{n}",
    }


def insert_in_chunks(model, rows: list[dict], size: int = 5000) -> None:
    """Bulk-insert rows a chunk at a time, within the drivers' parameter limits."""
    for chunk in range(0, len(rows), size):
        db.session.execute(insert(model), rows[chunk : chunk + size])


def refresh_statistics() -> None:
    """Let PostgreSQL's planner see the rows just seeded, as a live database's statistics would."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
