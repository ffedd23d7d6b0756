"""The RabbitMQ consumer against a real broker: same ingest as the webhook, dead letters, restarts, crashes."""

import json
import os
import signal
import subprocess
import time

import pytest
from sqlalchemy import select

from tests.support.factories import booking_payload, contact, envelope, notifications, plan
from tests.support.processes import process_env, procfile_command, wait_for
from tests.support.rabbitmq import own_topology, publish_many
from tests.support.signin import sign_in
from tests.support.tcp_proxy import Proxy
from webapp.domain.accepting.events import PAYLOADS
from webapp.extensions import db
from webapp.flask_config import PROJECT_ROOT
from webapp.models import EventSource, InboundEvent
from webapp.plumbing import amqp

# Under make test-fast these tests share one process, so the run boots one RabbitMQ node, not one per process.
pytestmark = pytest.mark.xdist_group("rabbitmq")

# A booking.created plans the expert's request message and four reminders for each party.
PER_BOOKING = 9
# What each event type plans, on top of what came before it (booking b-amqp, starting in 90 minutes).
PLANS = {
    "booking.created": {"booking_created", "booking_1h", "booking_start", "booking_end"},
    "booking.accepted": {"booking_accepted"},
    "booking.reminder.24hr": {"booking_24h"},
    "booking.rescheduled": set(),
    "payment.successful": {"payment_successful"},
    "payment.failed": {"payment_failed"},
    "payment.refunded": {"payment_refunded"},
    "user.welcome": {"user_welcome"},
    "user.profile_updated": {"user_profile_updated"},
    "user.password_reset": {"user_password_reset"},
    "booking.cancelled": {"booking_cancel"},
}


@pytest.fixture
def config_overrides(rabbit):
    """The real broker, and names of this test's own exchange, queue and dead letters."""
    return own_topology(rabbit)


def publish(app, body: bytes | str, routing_key: str = "booking.created", message_id: str | None = None):
    """Publish a raw message to the platform's exchange, as another service would."""
    body = body.encode() if isinstance(body, str) else body
    amqp.publish(app.config["AMQP_URL"], amqp.Topology.from_config(app.config), routing_key, body, message_id)


def stored_events() -> list[InboundEvent]:
    db.session.expire_all()
    db.session.rollback()
    return list(db.session.scalars(select(InboundEvent).order_by(InboundEvent.id)))


def dead_letters(app) -> list[tuple[dict, bytes]]:
    """Take everything from the dead-letter queue: (headers, body) each."""
    connection = amqp.connect(app.config["AMQP_URL"])
    channel, letters = connection.channel(), []
    while True:
        method, properties, body = channel.basic_get(app.config["AMQP_DEAD_LETTER_QUEUE"], auto_ack=True)
        if method is None:
            break
        letters.append((properties.headers or {}, body))
    connection.close()
    return letters


def queue_depth(app) -> int:
    connection = amqp.connect(app.config["AMQP_URL"])
    depth = connection.channel().queue_declare(app.config["AMQP_QUEUE"], passive=True).method.message_count
    connection.close()
    return depth


def booking_events(count: int) -> list[tuple[str, str, str]]:
    """count distinct booking.created events, as (routing key, body, message id)."""
    return [
        ("booking.created", json.dumps(envelope("booking.created", booking_payload(f"b-{n}"))), f"evt-{n}")
        for n in range(count)
    ]


def test_every_event_type_published_plans_its_notifications(app, consumers):
    consumers()
    runner = app.test_cli_runner()
    for event_type in PLANS:
        result = runner.invoke(args=["events", "publish", event_type, "--demo", "--booking-id", "b-amqp"])
        assert result.exit_code == 0, result.output
    assert wait_for(lambda: len(stored_events()) == len(PLANS), 30)
    plan()
    events = stored_events()
    assert [event.event_type for event in events] == list(PLANS)
    assert {(event.source, event.outcome.value) for event in events} == {(EventSource.AMQP, "applied")}
    planned = {row.type.value for row in notifications()}
    assert planned == set().union(*PLANS.values())
    assert set(PAYLOADS) == set(PLANS)  # every type the webhook takes


def test_poison_messages_are_dead_lettered_with_the_reason_and_change_nothing(app, consumers):
    consumers()
    publish(app, "this is not json", message_id="bad-1")
    publish(app, json.dumps(envelope("booking.teleported", {"booking_id": "b-1"})), "booking.teleported", "bad-2")
    publish(app, json.dumps(envelope("booking.created", {"client_id": "c"})), message_id="bad-3")
    national = booking_payload("b-bad", client=contact("client-1", phone="0151 1234 5678"))
    publish(app, json.dumps(envelope("booking.created", national)), message_id="bad-4")
    publish(app, json.dumps(envelope("booking.created", booking_payload("b-ok"))), message_id="good")
    assert wait_for(lambda: len(stored_events()) == 1, 20)
    letters = dead_letters(app)
    assert wait_for(lambda: len(letters) == 4 or letters.extend(dead_letters(app)), 10)
    reasons = {headers["x-bellhop-reason"] for headers, _ in letters}
    assert len(reasons) == 4 and all(reason.startswith("invalid event:") for reason in reasons)
    assert any("booking_id" in reason for reason in reasons)
    assert any("payload.client.phone: '0151 1234 5678' has no country code" in reason for reason in reasons)
    assert {body for _, body in letters} >= {b"this is not json"}
    assert [event.event_id for event in stored_events()] == ["good"]
    assert queue_depth(app) == 0  # acknowledged, not requeued forever


@pytest.mark.slow
def test_a_broker_restart_mid_stream_loses_nothing(app, consumers, rabbit):
    consumer = consumers()
    events = booking_events(120)
    publish_many(app.config, events[:60])
    rabbit.stop()
    rabbit.start()
    publish_many(app.config, events[60:])
    assert wait_for(lambda: len(stored_events()) == 120, 60), consumer.log.read_text()[-2000:]
    plan()
    assert "reconnecting" in consumer.log.read_text()
    per_booking = {row.booking_id for row in notifications()}
    assert len(per_booking) == 120 and len(notifications()) == 120 * PER_BOOKING


@pytest.mark.slow
def test_two_consumers_make_no_duplicates(app, consumers):
    first, second = consumers(), consumers()
    events = booking_events(150)
    publish_many(app.config, events + events[::3])  # a third of them published twice, as at-least-once publishers do
    assert wait_for(lambda: queue_depth(app) == 0 and len(stored_events()) == 150, 60)
    plan()
    time.sleep(1)
    assert len(stored_events()) == 150
    keys = [row.dedupe_key for row in notifications()]
    assert len(keys) == len(set(keys)) == 150 * PER_BOOKING
    assert "consuming" in first.log.read_text() and "consuming" in second.log.read_text()


@pytest.mark.slow
def test_a_consumer_killed_between_commit_and_ack_changes_nothing_on_redelivery(app, consumers, rabbit):
    proxy = Proxy(rabbit.port)
    try:
        doomed = consumers(amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/%2F")
        proxy.hold()  # from now on, nothing the consumer sends reaches the broker: its ack is lost
        publish(app, json.dumps(envelope("booking.created", booking_payload("b-1"))), message_id="evt-once")
        assert wait_for(lambda: len(stored_events()) == 1, 20)  # committed
        plan()
        before = sorted(row.dedupe_key for row in notifications())
        os.kill(doomed.pid, signal.SIGKILL)
        proxy.cut()  # the broker sees the connection die with the message unacknowledged
    finally:
        proxy.close()
    assert wait_for(lambda: queue_depth(app) == 1, 20)  # back in the queue for another consumer
    survivor = consumers()
    assert wait_for(lambda: queue_depth(app) == 0, 20), survivor.log.read_text()
    plan()
    time.sleep(0.5)
    assert [event.event_id for event in stored_events()] == ["evt-once"]
    assert sorted(row.dedupe_key for row in notifications()) == before


@pytest.mark.slow
def test_sigterm_finishes_the_message_in_hand_and_exits(app, consumers):
    consumer = consumers()
    publish_many(app.config, booking_events(200))
    assert wait_for(lambda: len(stored_events()) >= 5, 20)
    consumer.send_signal(signal.SIGTERM)
    assert consumer.wait(15) == 0
    assert "consumer stopped" in consumer.log.read_text()
    handled, left = len(stored_events()), queue_depth(app)
    assert handled + left == 200  # every message either committed and acknowledged, or back in the queue
    consumers()
    assert wait_for(lambda: len(stored_events()) == 200, 60)


# The outage is a cut TCP connection to the database server; SQLite has no connection to cut.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.slow
def test_a_database_outage_puts_messages_back_and_backs_off(app, consumers, postgres_url):
    from sqlalchemy.engine import make_url

    real = make_url(postgres_url)
    proxy = Proxy(real.port)
    try:
        consumer = consumers(database=real.set(port=proxy.port).render_as_string(hide_password=False))
        proxy.cut()
        publish(app, json.dumps(envelope("booking.created", booking_payload("b-1"))), message_id="evt-outage")
        assert wait_for(lambda: consumer.log.read_text().count("database unavailable") >= 2, 20)
        assert stored_events() == [] and queue_depth(app) + 1 >= 1
        proxy.restore()
        assert wait_for(lambda: len(stored_events()) == 1, 30), consumer.log.read_text()[-2000:]
        plan()
    finally:
        proxy.close()
    assert wait_for(lambda: queue_depth(app) == 0, 10)
    assert len(notifications()) == PER_BOOKING and dead_letters(app) == []


def test_the_inbound_events_page_shows_amqp_events(app, client, accounts, consumers):
    consumers()
    publish(app, json.dumps(envelope("booking.created", booking_payload("b-1"))), message_id="evt-page")
    assert wait_for(lambda: len(stored_events()) == 1, 20)
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/events?source=amqp").get_data(as_text=True)
    assert "evt-page" in page and "amqp" in page


def test_without_amqp_url_the_consumer_exits_saying_why(database_url, redis_url):
    env = {**process_env(database_url, redis_url), "LOG_LEVEL": "INFO"}
    env.pop("AMQP_URL", None)
    done = subprocess.run(
        procfile_command("consumer", env),
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "AMQP_URL is not set" in done.stdout + done.stderr


def test_the_default_bindings_take_every_booking_event_including_the_24h_reminder(app):
    from webapp.settings import Settings

    config = {**app.config, "AMQP_BINDINGS": Settings.model_fields["AMQP_BINDINGS"].default}
    connection = amqp.connect(app.config["AMQP_URL"])
    amqp.declare(connection.channel(), amqp.Topology.from_config(config))
    connection.close()
    for event_type in PAYLOADS:  # mandatory publishing fails on a key no binding takes
        publish(app, "{}", event_type)
    assert queue_depth(app) == len(PAYLOADS)


def test_a_consuming_consumer_keeps_readiness_and_a_stopped_one_does_not(app, client, consumers):
    def consumer_check() -> dict:
        return client.get("/readyz").get_json()["checks"]["consumer"]

    consumer = consumers()
    assert wait_for(lambda: consumer_check()["ok"], 10), consumer_check()
    consumer.send_signal(signal.SIGTERM)
    assert consumer.wait(15) == 0
    check = consumer_check()
    assert (check["ok"], check["detail"]) == (False, "no consumer is running")
    assert 0 <= check["age_seconds"] < 5  # since its clean stop, which the dashboard's banner names
