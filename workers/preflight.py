"""Checks a worker or scheduler makes before it starts."""

from redis import Redis


class RedisEvicts(SystemExit):
    """Redis may evict keys, which would silently lose wake-ups and queued work."""


def require_noeviction(redis: Redis) -> None:
    """Refuse to run unless Redis reports maxmemory-policy noeviction."""
    policy = redis.info("memory").get("maxmemory_policy")
    if policy != "noeviction":
        raise RedisEvicts(
            f"Redis maxmemory-policy is {policy!r}, but Bellhop needs 'noeviction': an evicting Redis "
            "silently drops scheduled wake-ups and queued deliveries. Set 'maxmemory-policy noeviction' "
            "in redis.conf (or run: redis-cli CONFIG SET maxmemory-policy noeviction) and start again."
        )
