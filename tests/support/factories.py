"""Builders for platform events and signed requests."""

import json
import uuid
from datetime import datetime, timedelta, timezone
from functools import cache

from tests.support.apps import TestConfig
from webapp.plumbing.signatures import sign

SECRET = TestConfig.WEBHOOK_SECRETS[0]


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def contact(person_id: str, **fields) -> dict:
    return {"id": person_id, "name": person_id.title(), "timezone": "Europe/Berlin", **fields}


def booking_payload(booking_id="b-1", start=None, minutes=60, client=None, expert=None, **extra) -> dict:
    start = start or now() + timedelta(days=2)
    payload = {
        "booking_id": booking_id,
        "client_id": "client-1",
        "expert_id": "expert-1",
        "scheduled_time": iso(start),
        "duration_minutes": minutes,
        "service_name": "Code Review",
        "client": client or contact("client-1"),
        "expert": expert or contact("expert-1"),
    }
    payload.update(extra)
    return payload


def envelope(event_type: str, payload: dict, at: datetime | None = None) -> dict:
    return {"event_type": event_type, "timestamp": iso(at or now()), "payload": payload}


def signed_headers(body: str, event_id: str | None = None, secret: str = SECRET, at: datetime | None = None):
    headers = sign(secret, event_id or f"evt_{uuid.uuid4().hex}", at or now(), body)
    headers["Content-Type"] = "application/json"
    return headers


def post(client, event: dict | str, event_id: str | None = None, **sign_options):
    """Sign and post one event to the webhook, which only stores it in the inbox; return the response."""
    body = event if isinstance(event, str) else json.dumps(event)
    return client.post("/webhooks/events", data=body, headers=signed_headers(body, event_id, **sign_options))


def plan() -> int:
    """Run the planner over the inbox, as a worker woken by the webhook would; return how many it planned."""
    from webapp.domain.planning import planner

    return planner.plan_waiting()


def post_and_plan(client, event: dict | str, event_id: str | None = None, **sign_options):
    """Post one event, then plan it; return the webhook's response."""
    response = post(client, event, event_id, **sign_options)
    plan()
    return response


def last_outcome() -> str | None:
    """What the planner made of the newest stored event (None while it waits)."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import InboundEvent

    db.session.expire_all()
    stored = db.session.scalar(select(InboundEvent).order_by(InboundEvent.id.desc()).limit(1))
    return stored.outcome.value if stored and stored.outcome else None


def row_counts() -> dict[str, int]:
    """Count the rows of every table in one query, to prove a rejected request changed nothing."""
    from webapp.extensions import db

    names, counts = every_table_counted()
    return dict(zip(names, db.session.execute(counts).one(), strict=True))


@cache
def every_table_counted():
    """The tables' names, and one SELECT of each table's row count (the fuzzers run it 20,000 times)."""
    from sqlalchemy import func, select

    from webapp.extensions import db

    tables = db.metadata.sorted_tables
    counts = select(*(select(func.count()).select_from(table).scalar_subquery() for table in tables))
    return [table.name for table in tables], counts


def notifications(**filters) -> list:
    """Return notifications matching column values, freshly read, in id order."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Notification

    db.session.expire_all()
    return list(db.session.scalars(select(Notification).filter_by(**filters).order_by(Notification.id)))


def kinds(rows) -> list[tuple[str, str, str]]:
    """Summarise rows as sorted (type, recipient, status) triples."""
    return sorted((row.type.value, row.recipient.external_id, row.status.value) for row in rows)


def this_second() -> datetime:
    """Now, in UTC, to the whole second: due times that land on one wake-up."""
    return now().replace(microsecond=0)
