"""Creating and updating recipients from the contact details events carry."""

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import or_

from webapp.domain.accepting.events import Contact
from webapp.domain.people import preferences
from webapp.domain.planning import notification_rows, planner_batch
from webapp.domain.staff import audit_log
from webapp.extensions import db
from webapp.models import Recipient

CONTACT_FIELDS = ("name", "email", "phone", "telegram_chat_id", "webhook_url", "timezone", "locale", "quiet_hours")


def upsert_many(contacts: dict[str, Contact | None], at: datetime) -> dict[str, Recipient]:
    """Find or create each recipient by platform id in one query, applying the contacts given."""
    if not contacts:
        return {}
    found = planner_batch.loaded(Recipient, list(contacts))
    wishes = []
    for external_id, contact in contacts.items():
        person = found.get(external_id)
        if person is None:
            person = found[external_id] = Recipient(external_id=external_id, timezone="UTC", locale="en")
            db.session.add(person)
            planner_batch.remember(Recipient, external_id, person)
        if apply_contact(person, contact, at) and contact.preferences:
            wishes.append((person, contact.preferences))
    if wishes:
        apply_preferences(wishes, at)
    return found


def apply_preferences(wishes: list[tuple[Recipient, dict[str, bool]]], at: datetime) -> None:
    """Record the opt-ins and opt-outs an event carries; an opt-out also suppresses what was planned."""
    notification_rows.write_pending()  # an opt-out suppresses what earlier events of the batch planned
    db.session.flush()  # new recipients get their ids
    for person, wanted in wishes:
        for key, opted_in in wanted.items():
            channel, category = preferences.parse_scope(key)
            preference = preferences.set_preference(person.id, channel, category, opted_in, "platform event", at)
            if not opted_in:
                preferences.suppress_open(preference, at)


def matching(text: str):
    """SQL condition: the person's name, email, phone or platform id contains the text (any case).

    autoescape makes % and _ in the text match themselves, not any run of characters or any one.
    """
    columns = (Recipient.name, Recipient.email, Recipient.phone, Recipient.external_id)
    return or_(*(column.icontains(text, autoescape=True) for column in columns))


def upsert(external_id: str, contact: Contact | None, at: datetime) -> Recipient:
    """Find or create one recipient, applying its contact details."""
    return upsert_many({external_id: contact}, at)[external_id]


def apply_contact(recipient: Recipient, contact: Contact | None, at: datetime) -> bool:
    """Copy contact details unless a newer event already set them; return whether they were applied."""
    if contact is None or (recipient.last_event_at and at < recipient.last_event_at):
        return False
    for field in CONTACT_FIELDS:
        value = getattr(contact, field)
        if value is not None:
            # An empty string clears a setting; zone and language fall back to a new recipient's defaults.
            setattr(recipient, field, value or REQUIRED_DEFAULTS.get(field))
    recipient.last_event_at = at
    return True


# Columns that cannot be empty fall back to what a new recipient gets.
REQUIRED_DEFAULTS = {"timezone": "UTC", "locale": "en"}


class ContactError(ValueError):
    """Contact details staff entered that Bellhop could not use."""


def edit(recipient: Recipient, fields: dict[str, str | None]) -> list[str]:
    """Apply staff's corrections, checked by the same rules as an event's; return the fields changed."""
    given = {
        name: (value.strip() if isinstance(value, str) else value) or None
        for name, value in fields.items()
        if name in CONTACT_FIELDS
    }
    try:
        checked = Contact(id=recipient.external_id, **given)
    except ValidationError as error:
        raise ContactError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())) from None
    wanted = {name: getattr(checked, name) or REQUIRED_DEFAULTS.get(name) for name in given}
    changed = [name for name, value in wanted.items() if value != getattr(recipient, name)]
    for name in changed:
        setattr(recipient, name, wanted[name])
    return changed


def correct(person: Recipient, fields: dict) -> list[str]:
    """Apply staff's corrections to a person's contact details, audited, and commit; return the fields changed.

    A value the rules refuse raises ContactError and changes nothing.
    """
    try:
        changed = edit(person, fields)
    except ContactError:
        db.session.rollback()
        raise
    if changed:
        audit_log.audit("recipient_changed", target=person.external_id, detail=", ".join(changed))
    db.session.commit()
    return changed
