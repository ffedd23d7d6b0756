"""The ingest floor: the rows one booking.created writes, in one transaction, and nothing else.

It skips everything Bellhop does besides writing: no signature check, no validation, no
look-ups, no planning rules, no ORM (raw DB-API statements), no wake-ups. So it is about
the fastest any ingest can be that commits an event's rows before it answers, under the
same gunicorn settings, on the same database and schema. It suits a fresh run only: it
assumes every event and booking is new (experts recur, so people are upserted).
"""

import json
import os
from datetime import datetime, timedelta, timezone

from flask import Flask, jsonify, request
from sqlalchemy import create_engine

from webapp.extensions import engine_options  # importing it also applies Bellhop's SQLite pragmas
from webapp.flask_config import database_url

app = Flask(__name__)
URL = database_url(os.environ["DATABASE_URL"])
engine = create_engine(URL, **engine_options({"SQLALCHEMY_DATABASE_URI": URL}))
SQLITE = engine.dialect.name == "sqlite"
REMINDERS = {
    "booking_24h": timedelta(hours=-24),
    "booking_1h": timedelta(hours=-1),
    "booking_start": timedelta(0),
    "booking_end": timedelta(minutes=55),
}
PERSON = (
    "INSERT INTO recipients (external_id, name, webhook_url, timezone, locale, last_event_at, created_at, "
    "updated_at) VALUES (%s, %s, %s, 'UTC', 'en', %s, %s, %s) "
    "ON CONFLICT (external_id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at RETURNING id"
)
BOOKING = (
    "INSERT INTO bookings (external_id, client_id, expert_id, status, starts_at, ends_at, last_event_at, "
    "created_at, updated_at) VALUES (%s, %s, %s, 'requested', %s, %s, %s, %s, %s) RETURNING id"
)
NOTIFICATION = (
    "INSERT INTO notifications (booking_id, recipient_id, type, channel, status, scheduled_at, due_at, "
    "booking_starts_at, attempts, dedupe_key, created_at, updated_at) "
    "VALUES (%s, %s, %s, 'webhook', 'pending', %s, %s, %s, 0, %s, %s, %s)"
)
EVENT = (
    "INSERT INTO inbound_events (event_id, event_type, source, occurred_at, received_at, payload, outcome) "
    "VALUES (%s, 'booking.created', 'webhook', %s, %s, %s, 'applied')"
)


def sql(statement: str) -> str:
    """The statement in the driver's parameter style."""
    return statement.replace("%s", "?") if SQLITE else statement


def moment(value: datetime):
    """A timestamp as Bellhop stores it: naive UTC text on SQLite."""
    return str(value.replace(tzinfo=None)) if SQLITE else value


@app.post("/webhooks/events")
def receive():
    """Write the event, its two people, its booking and its nine notifications; commit; answer 202."""
    body = request.get_data(as_text=True)
    payload = json.loads(body)["payload"]
    now = datetime.now(timezone.utc)
    starts = datetime.fromisoformat(payload["scheduled_time"].replace("Z", "+00:00"))
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        people = []
        for role in ("client", "expert"):
            cursor.execute(
                sql(PERSON),
                (payload[f"{role}_id"], payload[role]["name"], payload[role]["webhook_url"], *[moment(now)] * 3),
            )
            people.append(cursor.fetchone()[0])
        cursor.execute(
            sql(BOOKING),
            (payload["booking_id"], *people, moment(starts), moment(starts + timedelta(hours=1)), *[moment(now)] * 3),
        )
        booking = cursor.fetchone()[0]
        rows = [row(booking, people[1], "booking_created", now, starts, now)]
        rows += [
            row(booking, person, kind, starts + offset, starts, now)
            for kind, offset in REMINDERS.items()
            for person in people
        ]
        cursor.executemany(sql(NOTIFICATION), rows)
        cursor.execute(sql(EVENT), (request.headers["webhook-id"], moment(now), moment(now), body))
        connection.commit()
    except Exception:
        connection.rollback()
        raise
    finally:
        connection.close()
    return jsonify(status="applied"), 202


def row(booking: int, person: int, kind: str, due: datetime, starts: datetime, now: datetime) -> tuple:
    """One pending webhook notification row."""
    return (
        booking,
        person,
        kind,
        moment(due),
        moment(due),
        moment(starts),
        f"floor:{booking}:{kind}:{person}",
        moment(now),
        moment(now),
    )
