"""Sending early under a provider's rate, so that a cluster of messages still leaves on time.

A channel allowed 10 messages a second cannot send 3,000 reminders due at 10:00:00 on time: the
last would leave five minutes late. The sweep looks ahead and, per rate-limited channel, gives each
pending message a second to leave in, latest first, never more a second than the rate allows and
never earlier than its type's tolerance (BELLHOP_SEND_EARLY_SECONDS). A message that fits has its
due time moved there and keeps its scheduled time, so its story shows how early it went. One that
does not fit stays where it is; the throttle sends it as soon as the rate allows, late, and says why.
Packing again each sweep moves messages back towards their time when a cluster shrinks.
"""

import heapq
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import groupby

from flask import current_app
from sqlalchemy import func, select, update

from webapp.domain.people import quiet_hours
from webapp.domain.sending.history import record
from webapp.extensions import db
from webapp.models import Notification, NotificationStatus, Recipient
from webapp.plumbing import queueing

# Pack below the limit: sends for one second that spill into the next must still fit that second.
HEADROOM = 0.9


@dataclass(frozen=True)
class Window:
    """One pending message: the seconds (epoch) it may leave in, and where it is due now."""

    id: int
    earliest: int
    latest: int
    due_at: datetime
    scheduled_at: datetime


def pack_all(now: datetime) -> int:
    """Give every pending message on a rate-limited channel its second to leave in; return how many moved."""
    tolerances = current_app.config["SEND_EARLY_SECONDS"]
    if not any(tolerances.values()):
        return 0
    lookahead = max(tolerances.values()) + 2 * current_app.config["SWEEP_INTERVAL_SECONDS"] + 1
    moved = 0
    for channel, rate in current_app.config["PROVIDER_RATES"].items():
        windows = pending_windows(channel, now, now + timedelta(seconds=lookahead), tolerances)
        # Messages already due go first, at the rate: the seconds their excess over this one takes are not free.
        first_free = epoch_second(now) + 1 + seconds_taken(backlog(channel, now), per_second(rate))
        seconds = assign(windows, per_second(rate), first_free)
        moved += move(windows, seconds, f"{channel} is limited to {rate} messages a second", now)
    return moved


def per_second(rate: int) -> int:
    """How many messages to plan into one second of a channel allowed rate a second."""
    return max(1, int(rate * HEADROOM))


def seconds_taken(due_now: int, per_second: int) -> int:
    """Whole seconds after this one that messages already due will take, this second sending its share."""
    return math.ceil(max(0, due_now - per_second) / per_second)


def backlog(channel: str, now: datetime) -> int:
    """How many messages on a channel are due and not yet sent."""
    statement = select(func.count()).where(
        Notification.status.in_((NotificationStatus.PENDING, NotificationStatus.QUEUED)),
        Notification.channel == channel,
        Notification.due_at <= now,
    )
    return db.session.scalar(statement)


def pending_windows(channel: str, now: datetime, until: datetime, tolerances: dict[str, int]) -> list[Window]:
    """The pending messages on a channel due after now and by until, each with the seconds it may leave in."""
    rows = db.session.execute(
        select(
            Notification.id,
            Notification.type,
            Notification.scheduled_at,
            Notification.due_at,
            Recipient.quiet_hours,
            Recipient.timezone,
        )
        .join(Recipient, Recipient.id == Notification.recipient_id)
        .where(
            Notification.status == NotificationStatus.PENDING,
            Notification.channel == channel,
            Notification.due_at > now,
            Notification.due_at <= until,
        )
    )
    return [window(*row, tolerances) for row in rows]


def window(
    notification_id: int,
    kind,
    scheduled_at: datetime,
    due_at: datetime,
    quiet: str | None,
    zone: str | None,
    tolerances,
) -> Window:
    """A message's window: up to its tolerance before its time, never into quiet hours; a held-back one at its due."""
    if due_at > scheduled_at:  # a retry or a throttled message: it already waits past its time
        latest = earliest = epoch_second(due_at)
    else:
        latest = epoch_second(scheduled_at)
        quiet_free = quiet_hours.quiet_free_since(quiet, zone, kind, scheduled_at)
        earliest = max(latest - tolerances.get(kind.value, 0), math.ceil(quiet_free.timestamp()))
    return Window(notification_id, earliest, latest, due_at, scheduled_at)


def epoch_second(moment: datetime) -> int:
    """The whole second a moment falls in, as epoch seconds."""
    return int(moment.timestamp())


def assign(windows: list[Window], per_second: int, first_second: int) -> dict[int, int]:
    """Give each message a second in its window, per_second at most a second, as late as possible.

    Goes backwards from the latest second; each second takes the messages that could go earliest
    last, i.e. those whose window starts latest first (the mirror of earliest-deadline-first, which
    fits every message that any schedule could). Among equals the one due latest now goes latest, so
    packing again moves nothing that need not move. A message left out fits nowhere in its window.
    """
    by_latest = sorted(windows, key=lambda item: (item.latest, item.due_at, -item.id), reverse=True)
    ready: list[tuple[int, int]] = []
    seconds: dict[int, int] = {}
    following = 0
    second = by_latest[0].latest if by_latest else first_second
    while second >= first_second and (ready or following < len(by_latest)):
        if not ready:
            second = min(second, by_latest[following].latest)
        while following < len(by_latest) and by_latest[following].latest >= second:
            heapq.heappush(ready, (-by_latest[following].earliest, following))  # ties: the order above
            following += 1
        taken = 0
        while ready and taken < per_second:
            negative_earliest, index = heapq.heappop(ready)
            if -negative_earliest <= second:
                seconds[by_latest[index].id] = second
                taken += 1
            # else its window has closed: it cannot leave early enough, so it stays at its time
        second -= 1
    return seconds


def move(windows: list[Window], seconds: dict[int, int], reason: str, now: datetime) -> int:
    """Set each message's due time to its second (or back to its time), grouped into few UPDATEs."""
    changes = sorted(
        (new_due, item.due_at, item.id)
        for item in windows
        if (new_due := due_time(item, seconds.get(item.id))) != item.due_at
    )
    moved = []
    for (new_due, old_due), group in groupby(changes, key=lambda change: change[:2]):
        ids = [change[2] for change in group]
        moved_now = moved_rows(ids, old_due, new_due)
        if new_due < old_due:
            note = f"to leave early, at {new_due:%H:%M:%S} UTC: {reason}"
        else:
            note = "back towards its time: fewer messages now share the rate"
        record(moved_now, NotificationStatus.PENDING, note, now)
        moved += [new_due] * len(moved_now)
    db.session.commit()
    queueing.arm_wakeups(set(moved))
    return len(moved)


def due_time(item: Window, second: int | None) -> datetime:
    """Where a message should be due: its second, or its own time when its second is that; else where it is."""
    if second is None or item.due_at > item.scheduled_at:
        return item.due_at  # no second fits it: it goes when the rate allows, from where it is
    if second >= epoch_second(item.scheduled_at):
        return item.scheduled_at
    return datetime.fromtimestamp(second, timezone.utc)


def moved_rows(ids: list[int], old_due: datetime, new_due: datetime) -> list[int]:
    """Move the rows still pending at old_due (a cancel, claim or reschedule since the read wins); return them."""
    table = Notification.__table__
    statement = (
        update(table)
        .where(table.c.id.in_(ids), table.c.status == NotificationStatus.PENDING, table.c.due_at == old_due)
        .values(due_at=new_due)
        .returning(table.c.id)
    )
    return list(db.session.scalars(statement))
