"""Flask CLI commands: send a signed test event, load demo data."""

import json
import os
import uuid
from datetime import datetime, timedelta, timezone

import click
import requests
from flask import Flask, current_app
from flask.cli import AppGroup
from pika.exceptions import AMQPError
from sqlalchemy import select

from webapp import amqp, demo
from webapp.config_commands import config_cli
from webapp.domain.accepting.events import PAYLOADS
from webapp.domain.accepting.ingest import accept
from webapp.domain.planning import planner
from webapp.domain.planning.notifications import KNOWN_CHANNELS
from webapp.domain.sending import template_check
from webapp.domain.sending.rendering import RenderError
from webapp.domain.staff import accounts
from webapp.extensions import db
from webapp.mail_commands import mail_cli
from webapp.models import Booking, EventSource, NotificationType, Role
from webapp.process_commands import COMMANDS as PROCESS_COMMANDS
from webapp.signatures import sign
from webapp.staff_commands import staff_cli

events_cli = AppGroup("events", help="Send platform events to Bellhop.")
demo_cli = AppGroup("demo", help="Demo data for a local run.")
templates_cli = AppGroup("templates", help="Message templates.")


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
@click.option("--url", default="http://127.0.0.1:8000/webhooks/events", show_default=True)
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


@demo_cli.command("load")
def load_demo():
    """Create demo bookings whose reminders fall due in the next few minutes."""
    samples = demo.demo_bookings(datetime.now(timezone.utc))
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
        accounts.ensure_account(demo.DEMO_ADMIN, password, Role.ADMIN)
    except accounts.StaffError as error:
        raise click.ClickException(f"BELLHOP_DEMO_ADMIN_PASSWORD: {error}") from None
    accounts.audit("staff_demo_admin", target=demo.DEMO_ADMIN, actor="command line")
    db.session.commit()
    click.echo(f"dashboard login: {demo.DEMO_ADMIN} / {password}  (admin; from BELLHOP_DEMO_ADMIN_PASSWORD in .env)")


@templates_cli.command("check")
@click.option("--locale", "locales", multiple=True, help="Check only this language (repeatable).")
def check_templates(locales):
    """Fail, naming each gap, if a type and channel lacks a template or one fails to render."""
    problems = template_check.gaps(list(locales) or None)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} template problem(s)")
    checked = list(locales) or template_check.shipped_locales()
    click.echo(f"templates ok: {len(NotificationType)} types x {len(KNOWN_CHANNELS)} channels in {', '.join(checked)}")


@templates_cli.command("preview")
@click.argument("kind", type=click.Choice([kind.value for kind in NotificationType]))
@click.option("--channel", type=click.Choice(KNOWN_CHANNELS), default="email", show_default=True)
@click.option("--locale", default="en", show_default=True)
@click.option("--booking", "booking_id", help="Render for a real booking (its external id) instead of samples.")
@click.option("--for", "party", type=click.Choice(["client", "expert"]), default="client", show_default=True)
def preview_template(kind, channel, locale, booking_id, party):
    """Show a message as its recipient would get it, with SMS segments and length limits."""
    booking = None
    if booking_id:
        booking = db.session.scalar(select(Booking).filter_by(external_id=booking_id))
        if booking is None:
            raise click.ClickException(f"no booking {booking_id!r}")
    try:
        facts = template_check.preview(NotificationType(kind), channel, locale, booking, party)
    except RenderError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Subject: {facts['subject']}\n\n{facts['body']}\n")
    line = f"{facts['characters']} characters"
    if "segments" in facts:
        line += f", {facts['encoding']}, {facts['segments']} SMS segment(s)"
    if "limit" in facts:
        line += f" (limit {facts['limit']})"
    click.echo(line)


def init_app(app: Flask) -> None:
    """Register the command groups."""
    app.cli.add_command(events_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(templates_cli)
    app.cli.add_command(staff_cli)
    app.cli.add_command(config_cli)
    app.cli.add_command(mail_cli)
    for command in PROCESS_COMMANDS:
        app.cli.add_command(command)
