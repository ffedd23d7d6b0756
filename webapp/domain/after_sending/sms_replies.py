"""Replies to Bellhop's SMS: Twilio's standard opt-out, opt-in and help keywords."""

from datetime import datetime

from sqlalchemy import select

from webapp.domain.people import preferences
from webapp.domain.staff import audit_log
from webapp.extensions import db
from webapp.models import Recipient
from webapp.models.preference import ANY

# Twilio's default keywords (support.twilio.com, "Twilio support for opt-out keywords").
OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
OPT_IN = {"START", "UNSTOP", "YES"}
HELP = {"HELP", "INFO"}


def keyword(body: str, opt_out_type: str | None) -> str | None:
    """The keyword a reply is: Twilio's OptOutType when it sent a known one, else the whole text as one word."""
    for given in (opt_out_type, body):
        word = (given or "").strip().upper()
        if word in OPT_OUT | OPT_IN | HELP:
            return word
    return None


def handle(number: str, body: str, opt_out_type: str | None, now: datetime) -> tuple[str | None, int]:
    """Apply a reply to every person with that number, and commit; return the keyword and how many people."""
    word = keyword(body, opt_out_type)
    if word is None:
        return None, 0
    people = list(db.session.scalars(select(Recipient).where(Recipient.phone == number)))
    for person in people:
        apply(person, word, number, now)
    db.session.commit()
    return word, len(people)


def apply(person: Recipient, word: str, number: str, now: datetime) -> None:
    """Opt the person out of or back into SMS, or just note a HELP; audit it as theirs."""
    source = f"SMS reply {word} from {number}"
    if word in OPT_OUT:
        preference = preferences.set_preference(person.id, "sms", ANY, False, source, now)
        suppressed = preferences.suppress_open(preference, now)
        audit_log.audit("sms_opt_out", f"recipient {person.external_id}", suppressed, source, actor="sms reply", at=now)
    elif word in OPT_IN:
        preferences.set_preference(person.id, "sms", ANY, True, source, now)
        audit_log.audit("sms_opt_in", f"recipient {person.external_id}", 0, source, actor="sms reply", at=now)
    else:
        audit_log.audit("sms_help", f"recipient {person.external_id}", 0, source, actor="sms reply", at=now)
