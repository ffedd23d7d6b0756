"""`flask events ...`: plan the inbox, send a signed test event, publish one to RabbitMQ."""

import json
import os
import uuid
from datetime import datetime, timedelta, timezone

import click
import requests
from flask import current_app
from flask.cli import AppGroup
from pika.exceptions import AMQPError

from webapp.commands import demo
from webapp.domain.accepting.events import PAYLOADS
from webapp.domain.planning import planner
from webapp.plumbing import amqp
from webapp.plumbing.signatures import sign

events_cli = AppGroup("events", help="Send platform events to Bellhop.")


def sample_options(command):
    """The options every event-sending command shares: which payload, for which booking, when."""
    options = [
        click.argument("event_type", type=click.Choice(sorted(PAYLOADS))),
        click.option("--demo", "use_demo", is_flag=True, help="Use a built-in sample payload."),
        click.option("--payload", "payload_json", help="The payload as JSON, instead of --demo."),
        click.option("--booking-id", default=None, help="Booking id for the sample payload."),
        click.option("--start-in", default=90, show_default=True, help="Sample booking start, minutes from now."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def event_body(
    event_type: str, use_demo: bool, payload_json: str | None, booking_id: str | None, start_in: int
) -> tuple[str, str]:
    """The event as JSON, and the booking it is about."""
    if not (use_demo or payload_json):
        raise click.UsageError("give --demo or --payload")
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=start_in)
    booking_id = booking_id or f"demo-{uuid.uuid4().hex[:8]}"
    payload = json.loads(payload_json) if payload_json else demo.sample_payload(event_type, booking_id, start)
    return json.dumps(demo.event(event_type, payload)), booking_id


@events_cli.command("plan")
def plan_events():
    """Plan the inbox's waiting events now, in this process (workers do it when woken; this needs no worker)."""
    waiting, lag = planner.lag()
    planned = planner.plan_waiting()
    click.echo(f"planned {planned} events ({waiting} were waiting, the oldest for {lag:.1f} s)")


@events_cli.command("send")
@sample_options
@click.option(
    "--url",
    default=lambda: f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/webhooks/events",
    show_default="http://127.0.0.1:$PORT/webhooks/events, PORT 8000 when unset",
    help="The webhook to post to; by default the local web process's, on the port make run uses.",
)
def send_event(event_type, use_demo, payload_json, booking_id, start_in, url):
    """Sign an event with the first configured secret and POST it to Bellhop's webhook."""
    body, booking_id = event_body(event_type, use_demo, payload_json, booking_id, start_in)
    secrets = current_app.config["WEBHOOK_SECRETS"]
    if not secrets:
        raise click.ClickException("BELLHOP_WEBHOOK_SECRETS is not set")
    headers = sign(secrets[0], f"evt_{uuid.uuid4().hex}", datetime.now(timezone.utc), body)
    response = requests.post(url, data=body, headers={**headers, "Content-Type": "application/json"}, timeout=10)
    click.echo(f"{response.status_code} {response.text.strip()}")
    click.echo(f"sent {event_type} for booking {booking_id}")
    if response.status_code >= 400:
        raise SystemExit(1)


@events_cli.command("publish")
@sample_options
@click.option("--message-id", default=None, help="The AMQP message id (the idempotency key); new by default.")
def publish_event(event_type, use_demo, payload_json, booking_id, start_in, message_id):
    """Publish an event to the platform's RabbitMQ exchange (AMQP_URL), routed by its type."""
    url = current_app.config["AMQP_URL"]
    if not url:
        raise click.ClickException("AMQP_URL is not set")
    body, booking_id = event_body(event_type, use_demo, payload_json, booking_id, start_in)
    topology = amqp.Topology.from_config(current_app.config)
    message_id = message_id or f"evt_{uuid.uuid4().hex}"
    try:
        amqp.publish(url, topology, event_type, body.encode(), message_id)
    except AMQPError as error:
        raise click.ClickException(f"could not publish to {topology.exchange}: {error!r}") from None
    click.echo(f"published {event_type} for booking {booking_id} to {topology.exchange} (message id {message_id})")
