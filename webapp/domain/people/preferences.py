"""Recipient preferences: which categories of message they want, on which channels.

A preference names a channel and a category, either of which may be ANY. The most
specific one decides: (channel, category), then (channel, ANY), then (ANY, category),
then (ANY, ANY). With no preference at all, a message is wanted.
"""

from datetime import datetime

from sqlalchemy import select, update

from webapp.domain.sending import history
from webapp.extensions import db
from webapp.models import Notification, NotificationStatus, NotificationType, Preference, Recipient
from webapp.models.contact_fields import KNOWN_CHANNELS
from webapp.models.preference import ANY
from webapp.plumbing import metrics

T = NotificationType
CATEGORIES = {
    "reminders": (T.BOOKING_24H, T.BOOKING_1H, T.BOOKING_START, T.BOOKING_END),
    "booking_updates": (T.BOOKING_CREATED, T.BOOKING_ACCEPTED, T.BOOKING_CANCEL),
    "payments": (T.PAYMENT_SUCCESSFUL, T.PAYMENT_FAILED, T.PAYMENT_REFUNDED),
    "account": (T.USER_WELCOME, T.USER_PROFILE_UPDATED, T.USER_PASSWORD_RESET),
}
CATEGORY_OF = {kind: category for category, kinds in CATEGORIES.items() for kind in kinds}
LABELS = {
    "reminders": "session reminders",
    "booking_updates": "booking updates",
    "payments": "payment messages",
    "account": "account messages",
}


def parse_scope(key: str) -> tuple[str, str]:
    """Read a preference key: 'email', 'reminders', 'email:reminders' or '*'; raise ValueError naming the problem."""
    if ":" in key:
        channel, category = key.split(":", 1)
    elif key == ANY or key in KNOWN_CHANNELS:
        channel, category = key, ANY
    elif key in CATEGORIES:
        channel, category = ANY, key
    else:
        raise ValueError(
            f"{key!r} is neither a channel ({', '.join(KNOWN_CHANNELS)}) nor a category ({', '.join(CATEGORIES)})"
        )
    if channel != ANY and channel not in KNOWN_CHANNELS:
        raise ValueError(f"unknown channel {channel!r} in {key!r}; known: {', '.join(KNOWN_CHANNELS)}")
    if category != ANY and category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r} in {key!r}; known: {', '.join(CATEGORIES)}")
    return channel, category


def category_of(kind: NotificationType) -> str:
    """The category a message type belongs to."""
    return CATEGORY_OF[kind]


def for_recipients(recipient_ids: set[int]) -> dict[int, list[Preference]]:
    """Every preference of these recipients, in one query."""
    found: dict[int, list[Preference]] = {}
    if recipient_ids:
        for preference in db.session.scalars(select(Preference).where(Preference.recipient_id.in_(recipient_ids))):
            found.setdefault(preference.recipient_id, []).append(preference)
    return found


def deciding(preferences: list[Preference], channel: str, category: str) -> Preference | None:
    """The most specific preference that applies, or None."""
    by_scope = {(preference.channel, preference.category): preference for preference in preferences}
    for scope in ((channel, category), (channel, ANY), (ANY, category), (ANY, ANY)):
        if scope in by_scope:
            return by_scope[scope]
    return None


def suppression(preferences: list[Preference], channel: str, kind: NotificationType) -> str | None:
    """Why this message must not go out on this channel, or None when it is wanted."""
    category = category_of(kind)
    preference = deciding(preferences, channel, category)
    if preference is None or preference.opted_in:
        return None
    return reason(preference)


def reason(preference: Preference) -> str:
    """Say which opt-out stopped a message, and where it came from."""
    channel = "any channel" if preference.channel == ANY else preference.channel
    category = "anything" if preference.category == ANY else LABELS.get(preference.category, preference.category)
    when = preference.updated_at.strftime("%Y-%m-%d %H:%M UTC") if preference.updated_at else "unknown time"
    return f"suppressed: recipient opted out of {category} on {channel} ({preference.source}, {when})"


def set_preference(
    recipient_id: int, channel: str, category: str, opted_in: bool, source: str, now: datetime
) -> Preference:
    """Record an opt-in or opt-out, replacing any earlier one for the same channel and category."""
    preference = db.session.scalar(
        select(Preference).filter_by(recipient_id=recipient_id, channel=channel, category=category)
    )
    if preference is None:
        preference = Preference(recipient_id=recipient_id, channel=channel, category=category)
        db.session.add(preference)
    preference.opted_in, preference.source, preference.updated_at = opted_in, source, now
    db.session.flush()
    return preference


def suppress_open(preference: Preference, now: datetime) -> int:
    """Mark the recipient's not-yet-sent messages that this opt-out covers as suppressed; return how many."""
    kinds = list(CATEGORIES[preference.category]) if preference.category != ANY else list(NotificationType)
    channel_matches = [] if preference.channel == ANY else [Notification.channel == preference.channel]
    statement = (
        update(Notification)
        .where(
            Notification.recipient_id == preference.recipient_id,
            Notification.type.in_(kinds),
            Notification.status.in_((NotificationStatus.PENDING, NotificationStatus.QUEUED)),
            *channel_matches,
        )
        .values(status=NotificationStatus.SUPPRESSED, last_error=reason(preference), updated_at=now)
        .returning(Notification.id)
    )
    suppressed = list(db.session.scalars(statement))
    history.record(suppressed, NotificationStatus.SUPPRESSED, reason(preference), now)
    metrics.SUPPRESSIONS.labels(preference.channel, "opt_out").inc(len(suppressed))
    return len(suppressed)


def unsubscribe(recipient: Recipient, channel: str, category: str, now: datetime) -> int:
    """Opt the person out as their unsubscribe link asked, suppress what was planned, and commit; return how many."""
    preference = set_preference(recipient.id, channel, category, False, "unsubscribe link", now)
    suppressed = suppress_open(preference, now)
    db.session.commit()
    return suppressed
