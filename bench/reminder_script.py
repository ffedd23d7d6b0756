"""The platform's reminder script: thousands of booking.reminder.24hr events for existing bookings, at once.

Seed doc 004: the platform's own scheduled script publishes a booking.reminder.24hr event per booking due
tomorrow. Each booking here already has its 24 h reminder planned for an hour from now; the event brings
it forward to now. Sent through the webhook, or through RabbitMQ to the consumer; the figures are the
accept rate and the time from the first publish to the last reminder's arrival at the receiver.
"""

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pika

from bench import ingest
from tests.support.processes import procfile_command, stop
from tests.support.rabbitmq import RabbitNode
from tests.support.stack import SECRET, Stack, insert_in_chunks, refresh_statistics, seed_bookings, seed_people
from webapp.commands.demo import event
from webapp.extensions import db
from webapp.models import Notification
from webapp.plumbing import amqp
from webapp.plumbing.signatures import sign


def seed(stack: Stack, count: int) -> list[dict]:
    """Bookings starting in 25 hours, each with both parties' 24 h reminder pending; return the bookings."""
    start = (datetime.now(timezone.utc) + timedelta(hours=25)).replace(microsecond=0)
    with stack.app.app_context():
        people = seed_people(stack.receiver_url)
        bookings = seed_bookings(people, [start] * count)
        rows = [
            {
                "booking_id": booking["id"],
                "recipient_id": booking[party],
                "type": "booking_24h",
                "channel": "webhook",
                "status": "pending",
                "scheduled_at": start - timedelta(hours=24),
                "due_at": start - timedelta(hours=24),
                "booking_starts_at": start,
                "attempts": 0,
                "dedupe_key": f"bench:{booking['external_id']}:{party}",
            }
            for booking in bookings
            for party in ("client_id", "expert_id")
        ]
        insert_in_chunks(Notification, rows)
        db.session.commit()
        refresh_statistics()
    return bookings


def reminder_bodies(bookings: list[dict]) -> list[str]:
    """One booking.reminder.24hr per booking, as the platform's script sends it."""
    return [json.dumps(event("booking.reminder.24hr", {"booking_id": booking["external_id"]})) for booking in bookings]


def through_webhook(stack: Stack, bodies: list[str]) -> dict:
    """Post every event at once from the benchmark's clients; return the accept figures."""
    signed = []
    for body in bodies:
        headers = sign(SECRET, f"evt_{uuid.uuid4().hex}", datetime.now(timezone.utc), body)
        signed.append((body, {**headers, "Content-Type": "application/json"}))
    web, url = ingest.serve(stack, "wsgi:app")
    try:
        started = time.time()
        result = ingest.load(url, signed)
        return {**result, "first_publish": started}
    finally:
        stop([web])


def through_rabbitmq(rabbit: RabbitNode, stack: Stack, bodies: list[str]) -> dict:
    """Publish every event to the exchange over one channel, with confirms; return the publish figures."""
    topology = amqp.Topology.from_config(stack.app.config)
    connection = pika.BlockingConnection(pika.URLParameters(rabbit.url))
    try:
        channel = connection.channel()
        amqp.declare(channel, topology)
        channel.confirm_delivery()
        started = time.time()
        for body in bodies:
            properties = pika.BasicProperties(
                content_type="application/json",
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=f"evt_{uuid.uuid4().hex}",
            )
            channel.basic_publish(topology.exchange, "booking.reminder.24hr", body.encode(), properties=properties)
        return {"count": len(bodies), "throughput": len(bodies) / (time.time() - started), "first_publish": started}
    finally:
        connection.close()


def reminder_script(stack: Stack, count: int, via: str, timeout: float = 600) -> dict:
    """Seed count bookings, send their reminder.24hr events through the webhook or RabbitMQ, time the sends."""
    stack.reset()
    bodies = reminder_bodies(seed(stack, count))
    rabbit, consumer = None, []
    if via == "rabbitmq":
        (stack.workdir / "rabbit").mkdir(exist_ok=True)
        rabbit = RabbitNode(stack.workdir / "rabbit")
    try:
        with stack.running(2):
            time.sleep(2)  # the workers and scheduler start
            if rabbit:
                env = stack.env(AMQP_URL=rabbit.url)
                consumer = [stack.spawn("consumer", procfile_command("consumer", env), env)]
                accepted = through_rabbitmq(rabbit, stack, bodies)
            else:
                accepted = through_webhook(stack, bodies)
            complete = stack.wait_for_arrivals(2 * count, timeout)
    finally:
        stop(consumer)
        if rabbit:
            rabbit.close()
    arrivals = stack.arrivals()
    last = max((arrived for _, arrived in arrivals), default=float("nan"))
    return {
        "via": via,
        "events": count,
        "count": 2 * count,
        "received": len(arrivals),
        "distinct": len({notification_id for notification_id, _ in arrivals}),
        "complete": complete,
        "accept_rate": accepted["throughput"],
        "first_publish_to_last_send": last - accepted["first_publish"],
    }
