"""Sample events for `flask events send --demo`, and `flask demo load`: the demo data of a local run."""

import json
import os
import uuid
from datetime import datetime, timedelta, timezone

import click
from flask import current_app
from flask.cli import AppGroup

from webapp.domain.accepting.inbox import accept
from webapp.domain.planning import planner
from webapp.domain.staff import accounts
from webapp.models import EventSource, Role

DEMO_ADMIN = "demo-admin@example.com"
demo_cli = AppGroup("demo", help="Demo data for a local run.")
PEOPLE = {
    "client": {
        "id": "demo-client-ada",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "timezone": "Europe/London",
        "locale": "en",
    },
    "expert": {
        "id": "demo-expert-grace",
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "timezone": "America/New_York",
        "locale": "en",
    },
}


def iso(moment: datetime) -> str:
    """Format a UTC time as the platform does, with a Z."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def booking_payload(booking_id: str, start: datetime, minutes: int, service: str) -> dict:
    """Return a booking payload with both parties' contacts inline."""
    return {
        "booking_id": booking_id,
        "client_id": PEOPLE["client"]["id"],
        "expert_id": PEOPLE["expert"]["id"],
        "scheduled_time": iso(start),
        "duration_minutes": minutes,
        "service_name": service,
        "client": PEOPLE["client"],
        "expert": PEOPLE["expert"],
    }


def sample_payload(event_type: str, booking_id: str, start: datetime) -> dict:
    """Return a plausible payload for any accepted event type."""
    family = event_type.split(".")[0]
    if family == "booking":
        return booking_payload(booking_id, start, 30, "Code Review")
    if family == "payment":
        return {
            "payment_id": f"pay-{uuid.uuid4().hex[:8]}",
            "user_id": PEOPLE["client"]["id"],
            "booking_id": booking_id,
            "amount": 49.0,
            "currency": "EUR",
            "user": PEOPLE["client"],
        }
    contact = {key: value for key, value in PEOPLE["client"].items() if key != "id"}
    return {"user_id": PEOPLE["client"]["id"], **contact, "reset_url": "https://example.com/reset/demo"}


def event(event_type: str, payload: dict, at: datetime | None = None) -> dict:
    """Wrap a payload in the platform's envelope."""
    return {"event_type": event_type, "timestamp": iso(at or datetime.now(timezone.utc)), "payload": payload}


def demo_bookings(now: datetime) -> list[dict]:
    """Bookings whose reminders fall due within the next few minutes, plus one for tomorrow."""
    base = now.replace(microsecond=0)
    plans = [
        (2, 8, "Code Review"),
        (4, 10, "Architecture Session"),
        (6, 12, "Career Coaching"),
        (26 * 60, 60, "Mock Interview"),
    ]
    return [
        event(
            "booking.created",
            booking_payload(f"demo-{uuid.uuid4().hex[:8]}", base + timedelta(minutes=start), minutes, service),
        )
        for start, minutes, service in plans
    ]


@demo_cli.command("load")
def load_demo():
    """Create demo bookings whose reminders fall due in the next few minutes (never in production)."""
    if current_app.config["BELLHOP_ENV"] == "production":
        # Demo people, bookings and an admin with a password from the environment have no place in real data.
        raise click.ClickException("demo data is for a laptop: BELLHOP_ENV is production, nothing was loaded")
    samples = demo_bookings(datetime.now(timezone.utc))
    for sample in samples:
        accept(json.dumps(sample), f"demo-{uuid.uuid4().hex}", EventSource.CLI)
    planner.plan_waiting()  # a planner like any other, so the demo's rows exist when this returns
    for sample in samples:
        payload = sample["payload"]
        click.echo(f"booking {payload['booking_id']} ({payload['service_name']}) at {payload['scheduled_time']}")
    password = os.environ.get("BELLHOP_DEMO_ADMIN_PASSWORD")
    if password:
        ensure_demo_admin(password)


def ensure_demo_admin(password: str) -> None:
    """Give a local run an admin login, so the dashboard opens at once."""
    try:
        accounts.ensure_account(DEMO_ADMIN, password, Role.ADMIN, "staff_demo_admin", actor="command line")
    except accounts.StaffError as error:
        raise click.ClickException(f"BELLHOP_DEMO_ADMIN_PASSWORD: {error}") from None
    click.echo(f"dashboard login: {DEMO_ADMIN} / {password}  (admin; from BELLHOP_DEMO_ADMIN_PASSWORD in .env)")
