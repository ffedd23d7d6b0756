"""A private RabbitMQ node on loopback: its own node name, ports, data directory and Erlang cookie."""

import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from tests.support.services import free_port, missing

# Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user; this one runs as whoever starts it.
SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
BOOT_SECONDS = 60


def server_binary() -> str | None:
    """Debian's rabbitmq-server, if it is installed."""
    return SERVER if Path(SERVER).exists() else None


class RabbitNode:
    """One broker node; stop() and start() again keep its data, as a restarted server does."""

    def __init__(self, workdir: Path):
        if server_binary() is None:
            missing("rabbitmq-server (Debian package)")
        self.workdir, self.port = workdir, free_port()
        self.process: subprocess.Popen | None = None
        (workdir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\nlog.console = false\n")
        (workdir / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ,
            "HOME": str(workdir),
            "RABBITMQ_NODENAME": f"bellhop-test-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "ERL_EPMD_PORT": str(free_port()),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq"),
            "RABBITMQ_CONF_ENV_FILE": str(workdir / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(workdir / "log"),
            "RABBITMQ_PID_FILE": str(workdir / "rabbitmq.pid"),
        }
        (workdir / "rabbitmq-env.conf").write_text("")
        self.start()

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self) -> None:
        """Boot the node and wait until it takes AMQP connections."""
        log = open(self.workdir / "server.log", "a")
        self.process = subprocess.Popen(
            [SERVER], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            if self.answers():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.3)
        raise RuntimeError(f"RabbitMQ did not start: {(self.workdir / 'server.log').read_text()[-2000:]}")

    def answers(self) -> bool:
        import pika
        from pika.exceptions import AMQPError

        logging.getLogger("pika").setLevel(logging.CRITICAL)  # a refused probe while booting is expected
        try:
            pika.BlockingConnection(pika.URLParameters(self.url + "?connection_attempts=1")).close()
            return True
        except (AMQPError, OSError):
            return False

    def stop(self) -> None:
        """Shut the node down cleanly (SIGTERM), as a service restart does; its Erlang VM and epmd with it."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        subprocess.run(["pkill", "-f", f"epmd.*{self.env['ERL_EPMD_PORT']}"], capture_output=True)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def own_topology(node: RabbitNode) -> dict:
    """Settings naming the node and an exchange, queue and dead letters of this test's own."""
    tag = uuid.uuid4().hex[:8]
    return {
        "AMQP_URL": node.url,
        "AMQP_EXCHANGE": f"events-{tag}",
        "AMQP_QUEUE": f"notifications-{tag}",
        "AMQP_DEAD_LETTER_EXCHANGE": f"dead-{tag}",
        "AMQP_DEAD_LETTER_QUEUE": f"dead-letters-{tag}",
    }


TOPOLOGY_SETTINGS = ("AMQP_URL", "AMQP_EXCHANGE", "AMQP_QUEUE", "AMQP_DEAD_LETTER_EXCHANGE", "AMQP_DEAD_LETTER_QUEUE")


def publish_many(config, messages: list[tuple[str, str, str]]) -> None:
    """Publish (routing key, body, message id) triples over one connection, each confirmed by the broker."""
    import pika

    from webapp.plumbing import amqp

    connection = amqp.connect(config["AMQP_URL"])
    channel = connection.channel()
    amqp.declare(channel, amqp.Topology.from_config(config))
    channel.confirm_delivery()
    for routing_key, body, message_id in messages:
        channel.basic_publish(
            config["AMQP_EXCHANGE"],
            routing_key,
            body.encode(),
            properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, message_id=message_id),
        )
    connection.close()
