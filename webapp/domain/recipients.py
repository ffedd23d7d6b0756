"""Creating and updating recipients from the contact details events carry."""

from datetime import datetime

from sqlalchemy import select

from webapp.domain.events import Contact
from webapp.extensions import db
from webapp.models import Recipient

CONTACT_FIELDS = ("name", "email", "phone", "telegram_chat_id", "webhook_url", "timezone", "locale", "quiet_hours")


def upsert_many(contacts: dict[str, Contact | None], at: datetime) -> dict[str, Recipient]:
    """Find or create each recipient by platform id in one query, applying the contacts given."""
    if not contacts:
        return {}
    found = {person.external_id: person for person in
             db.session.scalars(select(Recipient).where(Recipient.external_id.in_(list(contacts))))}
    for external_id, contact in contacts.items():
        person = found.get(external_id)
        if person is None:
            person = found[external_id] = Recipient(external_id=external_id, timezone="UTC", locale="en")
            db.session.add(person)
        apply_contact(person, contact, at)
    return found


def upsert(external_id: str, contact: Contact | None, at: datetime) -> Recipient:
    """Find or create one recipient, applying its contact details."""
    return upsert_many({external_id: contact}, at)[external_id]


def apply_contact(recipient: Recipient, contact: Contact | None, at: datetime) -> None:
    """Copy contact details unless a newer event already set them."""
    if contact is None or (recipient.last_event_at and at < recipient.last_event_at):
        return
    for field in CONTACT_FIELDS:
        value = getattr(contact, field)
        if value is not None:
            setattr(recipient, field, value or None)  # an empty string clears a setting
    recipient.last_event_at = at
