"""Throttles: a per-recipient hourly cap per channel, and per-provider rates. Held-back messages wait, never drop.

A held-back row goes back to pending with a later due time and its attempt handed back,
so a throttle never uses up a message's retries. A provider's rate holds over any sliding
second, not per clock second: a fixed window lets twice the rate through across its edge.
"""

import logging
import time
from datetime import datetime, timedelta, timezone

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select

from webapp.domain.sending import states
from webapp.extensions import db
from webapp.models import Notification, NotificationStatus
from webapp.models.types import utcnow
from webapp.plumbing import queueing

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)

# A sliding log in one sorted set per channel, scored by Redis's own clock so that every worker
# shares one: drop sends older than a second, grant what the rate leaves, log each grant.
# Returns the grant and when (epoch microseconds) the oldest logged send leaves the window.
SLIDING_SECOND = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1000000)
local rate, wanted = tonumber(ARGV[1]), tonumber(ARGV[2])
local granted = math.min(wanted, math.max(0, rate - redis.call('ZCARD', KEYS[1])))
for _ = 1, granted do
  redis.call('ZADD', KEYS[1], now, redis.call('INCR', KEYS[2]))
end
redis.call('PEXPIRE', KEYS[1], 2000)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or now
return {granted, tostring(oldest)}
"""


def hold_back(items: list, channel: str, now: datetime) -> list:
    """Return the items that may go now; put the rest back to pending for when their throttle allows."""
    later = recipient_cap(items, channel, now)
    ready = [item for item in items if item.notification_id not in later]
    allowed, frees_at = provider_allowance(channel, len(ready))
    if allowed < len(ready):
        # The sliding second frees within a second: waiting for it keeps a packed cluster on time, where a
        # wake-up (whole seconds) would add up to a second per held message. Only once, so a worker moves on.
        time.sleep(max(0.0, (frees_at - utcnow()).total_seconds()))
        more, frees_at = provider_allowance(channel, len(ready) - allowed)
        allowed += more
    rate = current_app.config["PROVIDER_RATES"].get(channel)
    for item in ready[allowed:]:
        later[item.notification_id] = (frees_at, f"throttled: {channel} is limited to {rate} messages a second")
    if later:
        for notification_id, (due, reason) in later.items():
            states.defer(notification_id, due, reason, now)
        db.session.commit()
        queueing.arm_wakeups(due for due, _ in later.values())
    return ready[:allowed]


def recipient_cap(items: list, channel: str, now: datetime) -> dict[int, tuple[datetime, str]]:
    """Items over their recipient's hourly cap on this channel, with when the cap next allows one."""
    limit = current_app.config["RECIPIENT_HOURLY_LIMIT"]
    if not limit or not items:
        return {}
    used = sent_last_hour({item.recipient_id for item in items}, channel, now)
    later = {}
    for item in items:
        count, oldest = used.get(item.recipient_id, (0, now))
        if count >= limit:
            reason = f"throttled: at most {limit} messages an hour on {channel} for this recipient"
            later[item.notification_id] = (oldest + HOUR, reason)
        else:
            used[item.recipient_id] = (count + 1, oldest)
    return later


def sent_last_hour(recipient_ids: set[int], channel: str, now: datetime) -> dict[int, tuple[int, datetime]]:
    """How many messages each recipient got on a channel in the last hour, and when the oldest went."""
    rows = db.session.execute(
        select(Notification.recipient_id, func.count(), func.min(Notification.sent_at))
        .where(
            Notification.recipient_id.in_(recipient_ids),
            Notification.channel == channel,
            Notification.status == NotificationStatus.SENT,
            Notification.sent_at > now - HOUR,
        )
        .group_by(Notification.recipient_id)
    )
    return {recipient_id: (count, oldest) for recipient_id, count, oldest in rows}


def provider_allowance(channel: str, wanted: int) -> tuple[int, datetime]:
    """How many of wanted messages the channel's rate allows now, across all workers, and when it next frees."""
    rate = current_app.config["PROVIDER_RATES"].get(channel)
    if not rate or not wanted:
        return wanted, utcnow()
    try:
        sliding_second = queueing.redis_connection().register_script(SLIDING_SECOND)
        granted, oldest = sliding_second(
            keys=[f"bellhop:rate:{channel}", f"bellhop:rate:{channel}:seq"], args=[rate, wanted]
        )
    except RedisError:
        # The provider enforces its own limit; sending a little fast beats not sending at all.
        log.warning("rate limit for %s unavailable; sending unthrottled", channel, exc_info=True)
        return wanted, utcnow()
    frees_at = datetime.fromtimestamp(float(oldest) / 1_000_000, timezone.utc) + timedelta(seconds=1)
    return int(granted), frees_at
