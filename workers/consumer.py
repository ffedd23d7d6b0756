"""The AMQP consumer: the platform's events from RabbitMQ, through the same ingest path as the webhook.

A message is acknowledged only once the inbox holds it. A message Bellhop can never take goes to the
dead-letter queue with the reason in a header. A database outage puts the message back and backs off.
"""

import logging
import signal
import time
from datetime import datetime, timezone

import pika
from pika.exceptions import AMQPChannelError, AMQPConnectionError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from webapp.domain.accepting.events import InvalidEvent
from webapp.domain.accepting.inbox import accept
from webapp.extensions import db
from webapp.models import EventSource
from webapp.plumbing import amqp, heartbeats, logs, queueing

log = logging.getLogger(__name__)
FIRST_DELAY_SECONDS = 0.5
POLL_SECONDS = 1.0  # how often an idle consumer checks whether it was asked to stop


class Consumer:
    """Consume the queue until SIGTERM; reconnect with backoff whenever the broker goes away."""

    def __init__(self, config):
        self.url, self.prefetch = config["AMQP_URL"], config["AMQP_PREFETCH"]
        self.topology = amqp.Topology.from_config(config)
        self.max_delay = config["AMQP_RETRY_MAX_SECONDS"]
        self.stopping, self.delay = False, FIRST_DELAY_SECONDS
        self.name, self.last_beat = heartbeats.process_name(), 0.0

    def stop(self, *_signal) -> None:
        """Finish the message in hand, acknowledge it, and exit."""
        self.stopping = True

    def run(self) -> None:
        """Consume, reconnecting after broker restarts and network losses, until asked to stop."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        while not self.stopping:
            try:
                self.consume()
            except (AMQPConnectionError, AMQPChannelError) as error:
                log.warning(
                    "broker connection lost (%s); reconnecting in %.1f s", error or type(error).__name__, self.delay
                )
                self.pause(time.sleep)
        self.forget_beat()
        log.info("consumer stopped")

    def beat(self) -> None:
        """Say in Redis, at most once a beat interval, that this consumer is consuming."""
        if time.monotonic() - self.last_beat < heartbeats.BEAT_SECONDS:
            return
        self.last_beat = time.monotonic()
        try:
            heartbeats.beat(queueing.redis_connection(), "consumer", self.name)
        except RedisError:
            pass  # Redis is not what the consumer needs to take events in; readiness will say it is down

    def forget_beat(self) -> None:
        """A consumer that stopped cleanly is not a stalled one."""
        try:
            heartbeats.stopped(queueing.redis_connection(), "consumer", self.name)
        except RedisError:
            pass

    def consume(self) -> None:
        """One connection's life: declare, then handle messages until stopping or the connection drops."""
        connection = amqp.connect(self.url)
        try:
            channel = connection.channel()
            amqp.declare(channel, self.topology)
            channel.basic_qos(prefetch_count=self.prefetch)
            channel.confirm_delivery()  # dead letters are acknowledged only once the broker has them
            log.info("consuming %s (bindings %s)", self.topology.queue, ", ".join(self.topology.bindings))
            self.delay = FIRST_DELAY_SECONDS
            for method, properties, body in channel.consume(self.topology.queue, inactivity_timeout=POLL_SECONDS):
                self.beat()
                if method is not None:
                    self.handle(connection, channel, method, properties, body)
                if self.stopping:
                    break
            channel.cancel()  # unacknowledged prefetched messages go back to the queue for the others
        finally:
            if connection.is_open:
                connection.close()

    def handle(self, connection, channel, method, properties, body: bytes) -> None:
        """Accept one message; acknowledge, dead-letter, or put it back, by what went wrong."""
        event_id = amqp.message_id(properties, body)
        with logs.context(event_id=event_id):
            self.take(connection, channel, method, properties, body, event_id)

    def take(self, connection, channel, method, properties, body: bytes, event_id: str) -> None:
        """Accept into the inbox, then acknowledge, dead-letter, or put back."""
        try:
            accept(body, event_id, EventSource.AMQP)
        except InvalidEvent as error:
            self.dead_letter(channel, method, properties, body, f"invalid event: {error}")
        except DBAPIError as error:
            db.session.rollback()
            log.warning("database unavailable (%s); message put back", type(error.orig).__name__)
            channel.basic_nack(method.delivery_tag, requeue=True)
            self.pause(connection.sleep)
        except Exception as error:  # a bug: one retry, then out of the way rather than looping forever
            db.session.rollback()
            log.exception("could not accept message %s", method.delivery_tag)
            if method.redelivered:
                self.dead_letter(channel, method, properties, body, f"failed twice: {error!r}")
            else:
                channel.basic_nack(method.delivery_tag, requeue=True)
        else:
            channel.basic_ack(method.delivery_tag)
            self.delay = FIRST_DELAY_SECONDS

    def dead_letter(self, channel, method, properties, body: bytes, reason: str) -> None:
        """Publish the message to the dead-letter exchange with the reason, then acknowledge the original."""
        log.warning("dead-lettering message %s: %s", properties.message_id or method.delivery_tag, reason)
        headers = {
            **(properties.headers or {}),
            amqp.REASON_HEADER: reason[:1000],
            "x-bellhop-routing-key": method.routing_key,
            "x-bellhop-failed-at": datetime.now(timezone.utc).isoformat(),
        }
        channel.basic_publish(
            self.topology.dead_exchange,
            method.routing_key,
            body,
            properties=pika.BasicProperties(
                content_type=properties.content_type,
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=properties.message_id,
                headers=headers,
            ),
        )
        channel.basic_ack(method.delivery_tag)

    def pause(self, sleep) -> None:
        """Wait the current backoff, in short steps so a stop is not held up, then double it."""
        deadline = time.monotonic() + self.delay
        while not self.stopping and time.monotonic() < deadline:
            sleep(min(0.2, deadline - time.monotonic()))
        self.delay = min(self.delay * 2, self.max_delay)
