"""The suppression list: addresses on a channel that Bellhop no longer sends to, and why.

An address is suppressed, not a person: a platform event that gives the person a new address
is not blocked by the old one. The delivery path checks the list in the query that claims a
batch (see transitions.claim_for_delivery), so a long list costs an index probe per row, not a
query per message.
"""

from datetime import datetime

from sqlalchemy import case, delete, exists, func, literal, select, update

from webapp.domain.sending import history
from webapp.extensions import db, insert_or_skip
from webapp.models import Notification, NotificationStatus, Recipient, Suppression
from webapp.plumbing import metrics

# The channels whose addresses can be suppressed, and the recipient field holding the address.
ADDRESS_FIELD = {"email": "email", "sms": "phone", "telegram": "telegram_chat_id", "webhook": "webhook_url"}


def normalise(channel: str, address: str) -> str:
    """The form addresses are compared in: e-mail lower-cased, the rest as stored (phones are E.164 at the door)."""
    address = address.strip()
    return address.lower() if channel == "email" else address


def address_of(recipient: Recipient, channel: str) -> str | None:
    """The recipient's address on a channel, normalised, or None."""
    field = ADDRESS_FIELD.get(channel)
    value = getattr(recipient, field) if field else None
    return normalise(channel, value) if value else None


def notification_address():
    """SQL: the normalised address a notification goes to, read from its recipient."""
    return case(
        (Notification.channel == "email", func.lower(Recipient.email)),
        (Notification.channel == "sms", Recipient.phone),
        (Notification.channel == "telegram", Recipient.telegram_chat_id),
        (Notification.channel == "webhook", Recipient.webhook_url),
    )


def matching():
    """SQL for the suppression rows that match a notification's channel and address."""
    return (
        select(Suppression.reason)
        .join(Recipient, Recipient.id == Notification.recipient_id)
        .where(Suppression.channel == Notification.channel, Suppression.address == notification_address())
    )


def is_suppressed():
    """SQL condition: the notification's address on its channel is on the list."""
    return exists(matching())


def suppress_listed(ids: list[int], now: datetime) -> list[int]:
    """Mark the queued rows among ids whose address is suppressed; each keeps the list's reason. Return them."""
    if not ids:
        return []
    reason = matching().with_only_columns(literal("suppressed: ") + Suppression.reason).limit(1).scalar_subquery()
    statement = (
        update(Notification)
        .where(Notification.id.in_(ids), Notification.status == NotificationStatus.QUEUED, is_suppressed())
        .values(status=NotificationStatus.SUPPRESSED, last_error=reason, lease_expires_at=None, updated_at=now)
        .returning(Notification.id, Notification.channel, Notification.last_error)
    )
    rows = list(db.session.execute(statement))
    for notification_id, channel, why in rows:
        history.record([notification_id], NotificationStatus.SUPPRESSED, why, now)
        metrics.SUPPRESSIONS.labels(channel, "suppression_list").inc()
    return [row[0] for row in rows]


def add(channel: str, address: str, reason: str, source: str, now: datetime, recipient_id: int | None = None) -> bool:
    """Put an address on the list unless it is there already; return whether it was added."""
    statement = (
        insert_or_skip(Suppression)
        .values(
            channel=channel,
            address=normalise(channel, address),
            reason=reason,
            source=source,
            recipient_id=recipient_id,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["channel", "address"])
        .returning(Suppression.id)
    )
    return db.session.scalar(statement) is not None


def lift(suppression: Suppression) -> None:
    """Take an address off the list; the caller audits and commits."""
    db.session.execute(delete(Suppression).where(Suppression.id == suppression.id))


def of_recipient(recipient: Recipient) -> list[Suppression]:
    """The suppressions of a person's current addresses, and any recorded against them, newest first."""
    addresses = [(channel, address_of(recipient, channel)) for channel in ADDRESS_FIELD]
    current = [
        (Suppression.channel == channel) & (Suppression.address == address) for channel, address in addresses if address
    ]
    condition = Suppression.recipient_id == recipient.id
    for clause in current:
        condition = condition | clause
    return list(db.session.scalars(select(Suppression).where(condition).order_by(Suppression.created_at.desc())))
