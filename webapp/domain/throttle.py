"""Throttles: a per-recipient hourly cap per channel, and per-provider rates. Held-back messages wait, never drop.

A held-back row goes back to pending with a later due time and its attempt handed back,
so a throttle never uses up a message's retries.
"""

import logging
import time
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select

from webapp import queueing
from webapp.domain import transitions
from webapp.extensions import db
from webapp.models import Notification, NotificationStatus

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)


def hold_back(items: list, channel: str, now: datetime) -> list:
    """Return the items that may go now; put the rest back to pending for when their throttle allows."""
    later = recipient_cap(items, channel, now)
    ready = [item for item in items if item.notification_id not in later]
    allowed = provider_allowance(channel, len(ready))
    next_second = datetime.fromtimestamp(int(now.timestamp()) + 1, now.tzinfo)
    rate = current_app.config["PROVIDER_RATES"].get(channel)
    for item in ready[allowed:]:
        later[item.notification_id] = (next_second, f"throttled: {channel} is limited to {rate} messages a second")
    if later:
        for notification_id, (due, reason) in later.items():
            transitions.defer(notification_id, due, reason, now)
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


def provider_allowance(channel: str, wanted: int) -> int:
    """How many of wanted messages fit this second's rate for the channel, shared by every worker."""
    rate = current_app.config["PROVIDER_RATES"].get(channel)
    if not rate or not wanted:
        return wanted
    key = f"bellhop:rate:{channel}:{int(time.time())}"
    try:
        connection = queueing.redis_connection()
        with connection.pipeline(transaction=False) as pipe:
            total, _ = pipe.incrby(key, wanted).expire(key, 2).execute()
        allowed = max(0, min(wanted, rate - (total - wanted)))
        if allowed < wanted:
            connection.decrby(key, wanted - allowed)  # hand back what this window will not send
        return allowed
    except RedisError:
        # The provider enforces its own limit; sending a little fast beats not sending at all.
        log.warning("rate limit for %s unavailable; sending unthrottled", channel, exc_info=True)
        return wanted
