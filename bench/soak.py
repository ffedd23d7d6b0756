"""Soak: signed events at a steady rate for minutes, with dashboards polling; then reconcile and compare memory.

`make soak` (10 minutes at 200 events/s, five dashboards) or `python -m bench.soak --minutes 1 --rate 20`.
Every process is real: gunicorn, the scheduler, forking RQ workers, the receiver, Redis and the database.
After the load and a settling time, it waits (within DRAIN_SECONDS) until every message due by then has
finished and the receiver has it, and reports each one that never arrived as lost.
"""

import argparse
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import urllib3
from sqlalchemy import func, select

from bench import dashboard
from bench.stats import lateness_summary
from tests.support.processes import stop
from tests.support.stack import SECRET, Stack
from webapp.commands.demo import booking_payload, event
from webapp.domain.staff import accounts
from webapp.extensions import db
from webapp.models import Booking, InboundEvent, Notification, NotificationStatus, Role
from webapp.plumbing.signatures import sign

MEMORY_SAMPLE_SECONDS = 60
SETTLE_SECONDS = 180  # after the last event: its start reminders (up to 150 s on) fall due and are sent
DRAIN_SECONDS = 120  # then at most this long for what is due to be sent and arrive; the rest is lost
OPEN = (NotificationStatus.PENDING, NotificationStatus.QUEUED, NotificationStatus.PROCESSING)
# Sessions start on the hour and the half hour; squeezed into minutes, each booking starts on a :00 or :30
# second 30 to 150 s after it is sent, so the start reminders of 30 s of events fall due in one second.
LEAD_SECONDS, STARTS_SPREAD = 30, 4


def signed_event(n: int, start: datetime, hook_url: str) -> tuple[bytes, dict]:
    """A booking.created whose start reminders fall due inside the soak, for two webhook recipients."""
    payload = booking_payload(f"soak-{uuid.uuid4().hex}", start, 60, "Code Review")
    for role, person in (("client", f"soak-client-{n}"), ("expert", f"soak-expert-{n % 50}")):
        payload[f"{role}_id"] = person
        payload[role] = {**payload[role], "id": person, "webhook_url": hook_url}
    body = json.dumps(event("booking.created", payload))
    return body.encode(), {
        **sign(SECRET, f"evt_{uuid.uuid4().hex}", datetime.now(timezone.utc), body),
        "Content-Type": "application/json",
    }


class Load:
    """Post events at a steady rate from a thread pool; count what the server accepted."""

    def __init__(self, url: str, hook_url: str, rate: float, seconds: float):
        self.url, self.hook_url, self.rate, self.seconds = url, hook_url, rate, seconds
        self.pool = urllib3.PoolManager(maxsize=32, retries=False, timeout=60)
        self.accepted = self.refused = 0
        self.refusals: dict[str, int] = {}
        self.lock = threading.Lock()

    def run(self) -> None:
        began = time.monotonic()
        with ThreadPoolExecutor(32) as executor:
            for n in range(int(self.rate * self.seconds)):
                time.sleep(max(0.0, began + n / self.rate - time.monotonic()))
                executor.submit(self.post, n)

    def post(self, n: int) -> None:
        # Signed and timed as it is sent: queued behind a slow server, an event made up front ages past the
        # signature's 5 minutes, and past its own session's start.
        body, headers = signed_event(n, session_start(n), self.hook_url)
        try:
            status = str(self.pool.request("POST", self.url, body=body, headers=headers).status)
        except urllib3.exceptions.HTTPError as error:
            status = type(error).__name__
        with self.lock:
            if status == "202":
                self.accepted += 1
            else:
                self.refused += 1
                self.refusals[status] = self.refusals.get(status, 0) + 1


def session_start(n: int) -> datetime:
    """One of the four :00 or :30 seconds from LEAD_SECONDS on, spread by n."""
    earliest = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=LEAD_SECONDS + 1)
    first = earliest + timedelta(seconds=-earliest.second % 30)
    return first + timedelta(seconds=30 * (n % STARTS_SPREAD))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory(processes: dict[str, int]) -> dict[str, int]:
    return {name: rss_kib(pid) for name, pid in processes.items() if Path(f"/proc/{pid}").exists()}


def drain(stack: Stack, cutoff: datetime, bound: float) -> float | None:
    """Wait until every message due by cutoff has finished and what was sent arrived; seconds taken, or None."""
    began = time.monotonic()
    while time.monotonic() - began < bound:
        with stack.app.app_context():
            still_open = db.session.scalar(
                select(func.count()).where(Notification.due_at <= cutoff, Notification.status.in_(OPEN))
            )
            sent = set(
                db.session.scalars(select(Notification.id).where(Notification.status == NotificationStatus.SENT))
            )
        if not still_open and sent <= {notification for notification, _ in stack.arrivals()}:
            return round(time.monotonic() - began, 1)
        time.sleep(1)
    return None


def reconcile(stack: Stack, cutoff: datetime) -> dict:
    """Count events, notifications due by cutoff and how they ended, what the receiver got, and what it never got."""
    with stack.app.app_context():
        events = db.session.scalar(select(func.count()).select_from(InboundEvent))
        started = db.session.scalar(select(func.count()).select_from(Booking).where(Booking.starts_at <= cutoff))
        due = set(db.session.scalars(select(Notification.id).where(Notification.due_at <= cutoff)))
        by_status = dict(
            db.session.execute(
                select(Notification.status, func.count())
                .where(Notification.due_at <= cutoff)
                .group_by(Notification.status)
            ).all()
        )
    arrivals = stack.arrivals()
    received = {notification for notification, _ in arrivals}
    lost = sorted(due - received)
    return {
        "events": events,
        # Each event tells its expert, and each session begun has a start reminder for both parties.
        "expected_due": events + 2 * started,
        "due": len(due),
        "by_status": {status.value: count for status, count in by_status.items()},
        "received": len(arrivals),
        "received_distinct": len(received),
        "lost": len(lost),
        "lost_ids": lost[:20],
        "lateness": lateness(stack, arrivals),
    }


def lateness(stack: Stack, arrivals: list[tuple[int, float]]) -> dict:
    """Each arrival against its message's scheduled time (a message planned for now is due when planned)."""
    with stack.app.app_context():
        scheduled = dict(db.session.execute(select(Notification.id, Notification.scheduled_at)).all())
    late = [arrived - scheduled[notification].timestamp() for notification, arrived in arrivals if notification]
    return {**lateness_summary(late or [0.0]), "over_5_s": sum(1 for seconds in late if seconds > 5)}


def soak(backend: str, minutes: float, rate: float, dashboards: int, settle: float = SETTLE_SECONDS) -> dict:
    """Run the soak on one backend and return its figures."""
    stack = Stack(backend)
    try:
        with stack.app.app_context():
            accounts.create(dashboard.ADMIN, dashboard.PASSWORD, Role.ADMIN)
            db.session.commit()
        web, base = dashboard.serve(stack)
        with stack.running(workers=2) as processes:
            watched = {
                "web": web.pid,
                "receiver": stack.receiver.pid,
                "redis": stack.redis_process.pid,
                **{f"process{n}": process.pid for n, process in enumerate(processes)},
            }
            load = Load(f"{base}/webhooks/events", stack.receiver_url, rate, minutes * 60)
            with dashboard.Pollers(base, dashboards) as pollers:
                loader = threading.Thread(target=load.run)
                began = time.monotonic()
                loader.start()
                time.sleep(min(30, minutes * 60 / 4))
                # Listed now, not at start-up: gunicorn's port opens before its workers are forked.
                watched.update({f"web-worker-{child}": child for child in ingest_children(web.pid)})
                memory_start = memory(watched)
                series = [memory_start]
                while loader.is_alive():  # a high-water mark levels off; a leak keeps climbing
                    loader.join(MEMORY_SAMPLE_SECONDS)
                    series.append(memory(watched))
                load_seconds = time.monotonic() - began  # longer than asked when the server fell behind
                memory_end = memory(watched)
            time.sleep(settle)
            cutoff = datetime.now(timezone.utc)
            drained_in = drain(stack, cutoff, DRAIN_SECONDS)
            figures = reconcile(stack, cutoff)
        stop([web])
    finally:
        stack.close()
    growth = {name: round(100 * (memory_end.get(name, 0) - kib) / kib, 1) for name, kib in memory_start.items() if kib}
    return {
        "backend": backend,
        "minutes": minutes,
        "rate": rate,
        "dashboards": dashboards,
        "posted": load.accepted + load.refused,
        "accepted": load.accepted,
        "refused": load.refused,
        "refusals": load.refusals,
        "load_seconds": round(load_seconds, 1),
        "sustained_rate": round((load.accepted + load.refused) / load_seconds, 1),
        "poll_requests": pollers.requests,
        "drained_in_seconds": drained_in,
        **figures,
        "memory_start_kib": memory_start,
        "memory_end_kib": memory_end,
        "memory_series_kib": {name: [sample.get(name, 0) for sample in series] for name in memory_start},
        "memory_growth_percent": growth,
    }


def ingest_children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seconds", type=float, help="the load's length in seconds, instead of --minutes")
    parser.add_argument("--settle", type=float, default=SETTLE_SECONDS, help="seconds after the load, before the drain")
    parser.add_argument("--rate", type=float, default=200, help="events a second")
    parser.add_argument("--dashboards", type=int, default=5)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    minutes = args.seconds / 60 if args.seconds else args.minutes
    result = soak(args.backend, minutes, args.rate, args.dashboards, args.settle)
    print(json.dumps(result, indent=2))
    late = result["lateness"]
    # The receiver keeps every arrival: its growth is the harness's, not Bellhop's.
    bellhop_growth = {name: growth for name, growth in result["memory_growth_percent"].items() if name != "receiver"}
    drained = (
        f"drained in {result['drained_in_seconds']} s" if result["drained_in_seconds"] is not None else "NOT drained"
    )
    print(
        f"\n{result['accepted']} events accepted of {result['posted']} posted, {result['events']} stored; "
        f"{result['due']} notifications due of {result['expected_due']} expected, {drained}, "
        f"{result['lost']} lost (due, never arrived); "
        f"receiver got {result['received']} "
        f"({result['received_distinct']} distinct); lateness p50 {late['p50']:.2f} s, p99 {late['p99']:.2f} s, "
        f"max {late['max']:.2f} s, {late['over_5_s']} over 5 s; largest memory growth of Bellhop's processes "
        f"{max(bellhop_growth.values(), default=0)} %"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
