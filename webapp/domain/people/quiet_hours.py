"""Quiet hours: a recipient's nightly window, in their own zone, when non-urgent messages wait.

Policy:
- Urgent messages never wait: the session starting or ending, a cancellation, a
  password reset.
- Anything else due inside the window waits for its end, except that nothing waits past
  its booking's start: a message that would have to (a 1 h reminder before a 07:30
  session when quiet hours end at 08:00, say) is sent on time, and its row notes that
  it went out inside quiet hours. A reminder is worth more than an undisturbed hour
  right before a session the person booked. A 24 h reminder can always wait, as a
  window ends within a day.
- Nothing else moves a message into the window: a message sent early under a rate limit
  leaves no earlier than the end of the window before its time, and a fallback is
  planned through the same decision as the message it replaces.
- The window is wall-clock time in the recipient's zone, so it follows DST. An end that
  falls in the hour the clocks skip is read as the moment they jump (03:00 in Berlin on
  the last Sunday of March). An end that happens twice, when the clocks go back, is
  read as its first occurrence.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from webapp.models import Booking, NotificationType, Recipient

T = NotificationType
URGENT = (T.BOOKING_START, T.BOOKING_END, T.BOOKING_CANCEL, T.USER_PASSWORD_RESET)
WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass
class Decision:
    """When to send a message, and a note for the record when quiet hours moved or let it through."""

    due: datetime
    note: dict = field(default_factory=dict)


def parse_window(value: str | None) -> tuple[time, time] | None:
    """Read 'HH:MM-HH:MM'; None (or '') means no quiet hours."""
    if not value:
        return None
    match = WINDOW.match(value)
    if not match or match.group(1, 2) == match.group(3, 4):
        raise ValueError(f"quiet hours must look like 22:00-07:00, got {value!r}")
    hour_from, minute_from, hour_to, minute_to = map(int, match.groups())
    return time(hour_from, minute_from), time(hour_to, minute_to)


def inside(local: time, start: time, end: time) -> bool:
    """Whether a wall-clock time is in the window, which may wrap past midnight."""
    return start <= local < end if start < end else local >= start or local < end


def window_end(moment: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """The end of the window that contains moment, as an aware UTC datetime."""
    local = moment.astimezone(zone)
    day = local.date()
    if start > end and local.time() >= start:  # the window wraps: it ends tomorrow
        day += timedelta(days=1)
    return first_moment_at(datetime.combine(day, end), zone)


def first_moment_at(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant the wall clock shows this time, or the moment it jumps past it."""
    earliest = wall.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
    if earliest.astimezone(zone).replace(tzinfo=None) == wall:
        return earliest
    # The clocks skip this wall time: walk to the moment they jump (at most the gap, minute by minute).
    instant = wall.replace(tzinfo=zone, fold=1).astimezone(timezone.utc)
    while instant.astimezone(zone).replace(tzinfo=None) < wall:
        instant += timedelta(minutes=1)
    return instant.replace(second=0, microsecond=0)


def zone_named(name: str | None) -> ZoneInfo:
    """A recipient's zone by name; UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def quiet_free_since(quiet: str | None, zone_name: str | None, kind: NotificationType, latest: datetime) -> datetime:
    """The earliest moment from which up to latest is outside the window: how early the message may leave.

    A message due inside its window (let through, as waiting would pass its booking's start) may not go earlier
    at all; one with no window, or urgent, has no bound (datetime.min).
    """
    window = parse_window(quiet)
    if window is None or kind in URGENT:
        return datetime.min.replace(tzinfo=timezone.utc)
    zone = zone_named(zone_name)
    local = latest.astimezone(zone)
    if inside(local.time(), *window):
        return latest
    _, end = window
    last_end = first_moment_at(datetime.combine(local.date(), end), zone)
    if last_end > latest:
        last_end = first_moment_at(datetime.combine(local.date() - timedelta(days=1), end), zone)
    return last_end


def decide(recipient: Recipient, kind: NotificationType, due: datetime, booking: Booking | None) -> Decision:
    """Apply the recipient's quiet hours to a message due at due."""
    window = parse_window(recipient.quiet_hours)
    if window is None or kind in URGENT:
        return Decision(due)
    zone = zone_named(recipient.timezone)
    if not inside(due.astimezone(zone).time(), *window):
        return Decision(due)
    end = window_end(due, zone, *window)
    label = f"quiet hours {recipient.quiet_hours} ({zone.key})"
    if booking is not None and booking.starts_at is not None and end >= booking.starts_at:
        return Decision(due, note={"quiet_hours": f"sent inside {label}: waiting would pass the booking's start"})
    return Decision(end, note={"quiet_hours": f"deferred from {due.isoformat()} to the end of {label}"})
