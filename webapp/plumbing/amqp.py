"""The platform's RabbitMQ topology, and publishing events to it.

The consumer that reads the queue is workers/consumer.py; the CLI publishes sample events through here.
"""

import hashlib
from dataclasses import dataclass

import pika
from pika.exceptions import ChannelClosedByBroker

# Where a dead letter says why Bellhop could not take it.
REASON_HEADER = "x-bellhop-reason"
PRECONDITION_FAILED = 406


class TopologyConflict(RuntimeError):
    """The broker already has an exchange or queue of that name, declared with other settings."""


@dataclass(frozen=True)
class Topology:
    """Names of the exchange, the queue with its bindings, and the dead-letter pair."""

    exchange: str
    queue: str
    bindings: tuple[str, ...]
    dead_exchange: str
    dead_queue: str

    @classmethod
    def from_config(cls, config) -> "Topology":
        return cls(
            config["AMQP_EXCHANGE"],
            config["AMQP_QUEUE"],
            tuple(config["AMQP_BINDINGS"]),
            config["AMQP_DEAD_LETTER_EXCHANGE"],
            config["AMQP_DEAD_LETTER_QUEUE"],
        )


def connect(url: str) -> pika.BlockingConnection:
    """A blocking connection to the broker at url (amqp://user:pass@host:port/vhost)."""
    return pika.BlockingConnection(pika.URLParameters(url))


def declare(channel, topology: Topology) -> None:
    """Declare everything durable, idempotently: the platform's exchange and queue, and the dead letters'."""
    try:
        channel.exchange_declare(topology.exchange, exchange_type="topic", durable=True)
        # Fanout: a dead letter keeps its routing key, and every one of them belongs in the one queue.
        channel.exchange_declare(topology.dead_exchange, exchange_type="fanout", durable=True)
        channel.queue_declare(topology.dead_queue, durable=True)
        channel.queue_bind(topology.dead_queue, topology.dead_exchange)
        channel.queue_declare(
            topology.queue, durable=True, arguments={"x-dead-letter-exchange": topology.dead_exchange}
        )
        for pattern in topology.bindings:
            channel.queue_bind(topology.queue, topology.exchange, routing_key=pattern)
    except ChannelClosedByBroker as error:
        if error.reply_code == PRECONDITION_FAILED:
            raise TopologyConflict(
                f"{error.reply_text}. The broker declared it with other settings; "
                "set AMQP_QUEUE or AMQP_EXCHANGE to other names, or delete it"
            ) from None
        raise


def message_id(properties, body: bytes) -> str:
    """The event's idempotency key: the publisher's message id, or a hash of the body when it set none."""
    return properties.message_id or "sha256:" + hashlib.sha256(body).hexdigest()


def publish(url: str, topology: Topology, routing_key: str, body: bytes, message_id: str | None) -> None:
    """Publish one persistent JSON message to the exchange and wait for the broker's confirm."""
    connection = connect(url)
    try:
        channel = connection.channel()
        declare(channel, topology)
        channel.confirm_delivery()
        channel.basic_publish(
            topology.exchange,
            routing_key,
            body,
            mandatory=True,
            properties=pika.BasicProperties(
                content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent, message_id=message_id
            ),
        )
    finally:
        connection.close()
