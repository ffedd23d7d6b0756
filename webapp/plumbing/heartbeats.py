"""Heartbeats: each background process says in Redis, on Redis's clock, that it is still at work."""

import os
import socket
import threading

from redis import ConnectionPool, Redis
from redis.exceptions import RedisError

PREFIX = "bellhop:heartbeat"
# Worker and consumer processes beat this often; the scheduler beats on every pass (a fraction of a second).
BEAT_SECONDS = 1.0
# A dead process's last beat is kept a day, so an outage can be reported with the moment it began.
KEEP_SECONDS = 86_400


def process_name() -> str:
    """This process as an operator finds it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def key(kind: str, name: str) -> str:
    """The Redis key of one process's heartbeat."""
    return f"{PREFIX}:{kind}:{name}"


def redis_now(redis: Redis) -> float:
    """Redis's own clock, so processes on different machines compare beats on one clock."""
    seconds, microseconds = redis.time()
    return seconds + microseconds / 1_000_000


def beat(redis: Redis, kind: str, name: str) -> None:
    """Record that this process is alive now."""
    redis.set(key(kind, name), redis_now(redis), ex=KEEP_SECONDS)


def stopped(redis: Redis, kind: str, name: str) -> None:
    """A process stops cleanly: its beat goes (it has not stalled), and the kind notes when, for "since when"."""
    now = redis_now(redis)
    with redis.pipeline() as pipe:
        pipe.delete(key(kind, name)).set(f"{PREFIX}-stopped:{kind}", now, ex=KEEP_SECONDS)
        pipe.execute()


def since_last_stop(redis: Redis, kind: str) -> float | None:
    """Seconds since a process of this kind last stopped cleanly, if one did in the last KEEP_SECONDS."""
    value = redis.get(f"{PREFIX}-stopped:{kind}")
    return redis_now(redis) - float(value) if value is not None else None


def ages(redis: Redis, kind: str) -> dict[str, float]:
    """Seconds since each process of a kind last beat, by process name."""
    keys = list(redis.scan_iter(match=key(kind, "*"), count=1000))
    if not keys:
        return {}
    now, values = redis_now(redis), redis.mget(keys)
    prefix = len(key(kind, ""))
    return {k.decode()[prefix:]: now - float(v) for k, v in zip(keys, values, strict=True) if v is not None}


class Beating:
    """A daemon thread that beats every BEAT_SECONDS while its process runs (a forked child has no copy)."""

    def __init__(self, redis: Redis, kind: str, name: str):
        # A client of its own: a horse forked while this thread held the shared pool's lock would deadlock on it.
        pool = redis.connection_pool
        self.redis = Redis(
            connection_pool=ConnectionPool(connection_class=pool.connection_class, **pool.connection_kwargs)
        )
        self.kind, self.name = kind, name
        self.stopped = threading.Event()
        threading.Thread(target=self.run, name=f"heartbeat-{kind}", daemon=True).start()

    def run(self) -> None:
        """Beat until stopped; a Redis hiccup skips a beat rather than ending the thread."""
        while True:
            try:
                beat(self.redis, self.kind, self.name)
            except RedisError:
                pass
            if self.stopped.wait(BEAT_SECONDS):
                return

    def stop(self) -> None:
        """Stop beating and remove the beat, so a clean shutdown is not mistaken for a stall."""
        self.stopped.set()
        try:
            stopped(self.redis, self.kind, self.name)
        except RedisError:
            pass
