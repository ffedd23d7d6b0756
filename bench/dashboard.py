"""Dashboard page times at 1,000,000 notifications, beside Flask-Admin's stock list of the same table."""

import random
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import requests
from sqlalchemy import func, insert, select

from bench import ingest
from bench.stats import percentile
from tests.support import services
from tests.support.processes import stop
from tests.support.signin import signed_in_session
from tests.support.stack import Stack, refresh_statistics
from webapp.domain.staff import accounts
from webapp.extensions import db
from webapp.models import Booking, Notification, Recipient, Role

PEOPLE_PER_NOTIFICATION, BOOKINGS_PER_NOTIFICATION = 100, 10
CHUNK = 20_000
TYPES = ["booking_created", "booking_24h", "booking_1h", "booking_start", "booking_end", "booking_cancel"]
CHANNELS = ["email", "sms", "telegram", "webhook", "log"]
# Mostly history, as a live system's table is: what was sent, with a few failures and cancels.
STATUSES = [("sent", 80), ("pending", 10), ("failed", 4), ("cancelled", 4), ("suppressed", 1), ("expired", 1)]
ERRORS = [
    "permanent: Telegram 403: Forbidden: bot was blocked by the user",
    "permanent: SMTP 550 mailbox unavailable",
    "transient: read timeout after 10 s",
    "permanent: Twilio 21211: invalid 'To' phone number",
]
ADMIN, PASSWORD = "bench-admin@example.com", "bench admin password"


def seed(stack: Stack, count: int) -> dict:
    """Insert count notifications over 90 days with their recipients and bookings; return sample values."""
    stack.reset()
    started, rng = time.perf_counter(), random.Random(7)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    first = now - timedelta(days=60)
    with stack.app.app_context():
        people = max(10, count // PEOPLE_PER_NOTIFICATION)
        insert_chunks(
            Recipient,
            (
                {
                    "external_id": f"p{n}",
                    "name": f"Person {n}",
                    "email": f"p{n}@example.com",
                    "timezone": "Europe/Berlin",
                    "locale": "en",
                }
                for n in range(people)
            ),
        )
        bookings = max(10, count // BOOKINGS_PER_NOTIFICATION)
        insert_chunks(
            Booking,
            (
                {
                    "external_id": f"b{n}",
                    "service_name": "Code Review",
                    "status": "accepted",
                    "starts_at": first + timedelta(seconds=n * 90 * 86400 // bookings),
                }
                for n in range(bookings)
            ),
        )
        low_person = db.session.scalar(select(func.min(Recipient.id)))
        low_booking = db.session.scalar(select(func.min(Booking.id)))
        statuses = [status for status, weight in STATUSES for _ in range(weight)]
        insert_chunks(
            Notification,
            (
                notification_row(n, count, first, rng, statuses, low_person, people, low_booking, bookings, now)
                for n in range(count)
            ),
        )
        accounts.create(ADMIN, PASSWORD, Role.ADMIN)
        db.session.commit()
        refresh_statistics()
        ids = db.session.scalars(select(Notification.id).order_by(Notification.id)).all()
    return {
        "seconds": time.perf_counter() - started,
        "deep_before": ids[len(ids) // 10],
        "person": f"Person {people // 3}",
        "booking": f"b{bookings // 2}",
        "day": (first + timedelta(days=20)).date(),
    }


def notification_row(n, count, first, rng, statuses, low_person, people, low_booking, bookings, now) -> dict:
    """One notification; ids grow with scheduled time, as they do when bookings are planned as they come."""
    scheduled = first + timedelta(seconds=n * 90 * 86400 // count)
    status = rng.choice(statuses) if scheduled < now else "pending"
    return {
        "booking_id": low_booking + n * bookings // count,
        "recipient_id": low_person + rng.randrange(people),
        "type": TYPES[n % len(TYPES)],
        "channel": CHANNELS[rng.randrange(len(CHANNELS))],
        "status": status,
        "scheduled_at": scheduled,
        "due_at": scheduled,
        "attempts": 1 if status != "pending" else 0,
        "sent_at": scheduled if status == "sent" else None,
        "last_error": rng.choice(ERRORS) if status == "failed" else None,
        "dedupe_key": f"bench:{n}",
    }


def insert_chunks(model, rows) -> None:
    """Insert rows in chunks, so a million of them never sit in memory at once."""
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            db.session.execute(insert(model), chunk)
            chunk = []
    if chunk:
        db.session.execute(insert(model), chunk)
    db.session.commit()


def cases(sample: dict) -> dict[str, str]:
    """Each page the issue names: Bellhop's first page, a deep page, each filter; Flask-Admin's stock list."""
    day = sample["day"]
    return {
        "first page": "/dashboard/notifications",
        "deep page (90% down)": f"/dashboard/notifications?before={sample['deep_before']}",
        "earliest scheduled first": "/dashboard/notifications?sort=scheduled",
        "status=failed": "/dashboard/notifications?status=failed",
        "status=processing (none)": "/dashboard/notifications?status=processing",
        "type=booking_end": "/dashboard/notifications?type=booking_end",
        "channel=sms": "/dashboard/notifications?channel=sms",
        "recipient (name substring)": f"/dashboard/notifications?recipient={sample['person'].replace(' ', '+')}",
        "booking id": f"/dashboard/notifications?booking={sample['booking']}",
        "scheduled date range (1 day)": f"/dashboard/notifications?from={day}&to={day + timedelta(days=1)}",
        "error text": "/dashboard/notifications?error=blocked",
        "error text (no match)": "/dashboard/notifications?error=no+such+error",
        "Flask-Admin stock list, first page": "/admin/admin_notifications/",
        "Flask-Admin stock list, deep page": "/admin/admin_notifications/?page=18000",
    }


def signed_in(base: str) -> requests.Session:
    """A requests session signed in as the benchmark's admin."""
    return signed_in_session(base, ADMIN, PASSWORD)


def page_times(session: requests.Session, url: str, repeat: int) -> dict:
    """p50 and p95 of repeat sequential loads of one page, after a few warm-up loads."""
    for _ in range(3):
        session.get(url, timeout=120).raise_for_status()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        session.get(url, timeout=120).raise_for_status()
        times.append(time.perf_counter() - started)
    return {"p50_ms": percentile(times, 0.5) * 1000, "p95_ms": percentile(times, 0.95) * 1000, "runs": repeat}


def serve(stack: Stack) -> tuple[subprocess.Popen, str]:
    """Bellhop's web process as production runs it: gunicorn with the ingest benchmark's settings."""
    port = services.free_port()
    process = stack.spawn(
        "gunicorn-dashboard",
        [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", *ingest.GUNICORN],
    )
    services.wait_for_port(port)
    return process, f"http://127.0.0.1:{port}"


def dashboard(stack: Stack, count: int, repeat: int) -> dict:
    """Seed count rows, then time every case against the same gunicorn."""
    sample = seed(stack, count)
    process, base = serve(stack)
    try:
        session = signed_in(base)
        figures = {name: page_times(session, base + path, repeat) for name, path in cases(sample).items()}
    finally:
        stop([process])
    return {"rows": count, "seed_seconds": sample["seconds"], "cases": figures}


class Pollers:
    """Signed-in dashboards polling for live status once a second, as open browser tabs do."""

    def __init__(self, base: str, count: int):
        self.base, self.stop, self.requests = base, threading.Event(), 0
        self.sessions = [signed_in(base) for _ in range(count)]
        self.threads = [threading.Thread(target=self.poll, args=(session,), daemon=True) for session in self.sessions]

    def poll(self, session: requests.Session) -> None:
        since = datetime.now(timezone.utc).isoformat()
        while not self.stop.wait(1.0):
            session.get(
                f"{self.base}/dashboard/live/notifications", params={"ids": "1,2,3", "since": since}, timeout=30
            )
            session.get(f"{self.base}/dashboard/live/overview", timeout=30)
            self.requests += 2

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def ingest_beside_dashboards(stack: Stack, events: int, dashboards: int) -> dict:
    """Webhook throughput with no dashboard open, then with this many polling, on the same gunicorn."""
    stack.reset()
    with stack.app.app_context():
        accounts.create(ADMIN, PASSWORD, Role.ADMIN)
        db.session.commit()
    process, base = serve(stack)
    try:
        ingest.load(f"{base}/webhooks/events", ingest.signed_requests(100, stack.receiver_url))  # warm the workers
        alone = ingest.load(f"{base}/webhooks/events", ingest.signed_requests(events, stack.receiver_url))
        with Pollers(base, dashboards) as pollers:
            time.sleep(1.5)
            watched = ingest.load(f"{base}/webhooks/events", ingest.signed_requests(events, stack.receiver_url))
    finally:
        stop([process])
    return {
        "alone": alone,
        "with_dashboards": watched,
        "dashboards": dashboards,
        "poll_requests": pollers.requests,
        "ratio": watched["throughput"] / alone["throughput"],
    }
