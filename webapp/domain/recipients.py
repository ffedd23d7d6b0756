"""Creating and updating recipients from the contact details events carry."""

from datetime import datetime

from sqlalchemy import select

from webapp.domain.events import Contact
from webapp.extensions import db
from webapp.models import Recipient

CONTACT_FIELDS = ("name", "email", "phone", "telegram_chat_id", "webhook_url", "timezone", "locale")


def find_or_create(external_id: str) -> Recipient:
    """Return the recipient with this platform id, creating an empty one if new."""
    recipient = db.session.scalar(select(Recipient).filter_by(external_id=external_id))
    if recipient is None:
        recipient = Recipient(external_id=external_id, timezone="UTC", locale="en")
        db.session.add(recipient)
    return recipient


def upsert(external_id: str, contact: Contact | None, at: datetime) -> Recipient:
    """Apply contact details unless a newer event already set them."""
    recipient = find_or_create(external_id)
    if contact is None or (recipient.last_event_at and at < recipient.last_event_at):
        return recipient
    for field in CONTACT_FIELDS:
        value = getattr(contact, field)
        if value is not None:
            setattr(recipient, field, value)
    recipient.last_event_at = at
    return recipient
