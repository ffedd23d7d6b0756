"""Email bounces and complaints, matched back to the message by its envelope sender (VERP).

Every email leaves with a Return-Path of its own, bounces+<id>-<signature>@domain, so a
bounce names the message it is about. The signature (an HMAC of the id under SECRET_KEY)
means mail sent to the bounce address by anyone else cannot suppress an address: a report
without a valid one is recorded as unmatched and changes nothing.

Delivery status notifications (RFC 3464, and the older shapes Exim, Postfix and Exchange
send) are read by flufl.bounce, Mailman's detector; complaints are RFC 5965 (ARF) reports.
"""

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from email.utils import parseaddr

from flask import current_app
from flufl.bounce import all_failures

from webapp.domain import preferences, receipts, staff, suppressions
from webapp.extensions import db
from webapp.models import Notification
from webapp.models.preference import ANY

log = logging.getLogger(__name__)
SIGNATURE_HEX = 16  # 64 bits: a forger gets one guess per bounce mail sent
DEFERRED, COMPLAINED = "deferred", "complained"


def signature(notification_id: int, config) -> str:
    """The signature a message's bounce address carries; hex, so a mail server that lowers case breaks nothing."""
    key = f"bellhop-bounce:{config['SECRET_KEY']}".encode()
    return hmac.new(key, str(notification_id).encode(), hashlib.sha256).hexdigest()[:SIGNATURE_HEX]


def bounce_base(config) -> tuple[str, str]:
    """The local part and domain bounce addresses are made from: BELLHOP_BOUNCE_ADDRESS, else SMTP_FROM's."""
    address = config.get("BOUNCE_ADDRESS") or parseaddr(config["SMTP_FROM"])[1]
    local, _, domain = address.rpartition("@")
    return local, domain


def envelope_sender(notification_id: int, config) -> str:
    """The Return-Path of one message: bounces+<id>-<signature>@domain."""
    local, domain = bounce_base(config)
    return f"{local}+{notification_id}-{signature(notification_id, config)}@{domain}"


def matched_ids(text: str) -> list[int]:
    """The ids of Bellhop messages whose signed bounce address appears anywhere in the report."""
    config = current_app.config
    local, domain = bounce_base(config)
    pattern = re.compile(rf"{re.escape(local)}\+(\d{{1,18}})-([0-9a-f]{{{SIGNATURE_HEX}}})@{re.escape(domain)}", re.I)
    found = []
    for number, given in pattern.findall(text):
        if hmac.compare_digest(signature(int(number), config), given.lower()) and int(number) not in found:
            found.append(int(number))
    return found


@dataclass
class Reading:
    """What a report says: a hard or soft bounce, or a complaint, with its diagnostic."""

    kind: str  # hard, soft, complaint or unknown
    status: str | None = None
    diagnostic: str | None = None


def read(message: Message) -> Reading:
    """Classify a bounce or complaint message, its status and diagnostic cut to what the tables keep."""
    reading = classify(message)
    reading.status = (reading.status or "")[:STATUS_CHARS] or None
    reading.diagnostic = (reading.diagnostic or "")[:DIAGNOSTIC_CHARS] or None
    return reading


# A report's text comes from whoever wrote the bounce: keep what fits the columns, not a 500.
STATUS_CHARS, DIAGNOSTIC_CHARS = 32, 1000


def classify(message: Message) -> Reading:
    """Read a report's kind, status and diagnostic."""
    if is_complaint(message):
        feedback = part_fields(message, "message/feedback-report")
        return Reading("complaint", feedback.get("feedback-type", "abuse"), feedback.get("user-agent"))
    temporary, permanent = failures(message)
    fields = part_fields(message, "message/delivery-status")
    status, diagnostic = fields.get("status"), fields.get("diagnostic-code")
    if not diagnostic:  # a plain-text notice (Exim's): the SMTP reply it quotes
        status, diagnostic = quoted_reply(message, status)
    if permanent:
        return Reading("hard", status, diagnostic)
    if temporary:
        return Reading("soft", status, diagnostic)
    if status and status.startswith("5."):  # a DSN flufl.bounce could not tie to an address
        return Reading("hard", status, diagnostic)
    if status and status.startswith("4."):
        return Reading("soft", status, diagnostic)
    return Reading("unknown", status, diagnostic)


def failures(message: Message) -> tuple[frozenset, frozenset]:
    """The temporarily and permanently failed addresses flufl.bounce finds; none when a detector trips."""
    try:
        return all_failures(message)
    except Exception:  # its heuristic detectors can fail on mail that is no bounce at all
        log.warning("flufl.bounce could not read a message (%s)", message.get("Subject", "no subject"), exc_info=True)
        return frozenset(), frozenset()


# An SMTP reply with an RFC 3463 status, as notices quote it: "550 5.1.1 User unknown".
SMTP_REPLY = re.compile(r"\b[245]\d\d[ -]([245]\.\d{1,3}\.\d{1,3})\b[^\n]*")


def quoted_reply(message: Message, status: str | None) -> tuple[str | None, str | None]:
    """The first SMTP reply a plain-text notice quotes, and its status; else the status given and the subject."""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            found = SMTP_REPLY.search(part.get_payload(decode=True).decode("utf-8", "replace"))
            if found:
                return status or found.group(1), found.group(0).strip()
            break
    return status, message.get("Subject")


def is_complaint(message: Message) -> bool:
    """An RFC 5965 abuse report: multipart/report with report-type=feedback-report."""
    return message.get_content_type() == "multipart/report" and (
        (message.get_param("report-type") or "").lower() == "feedback-report"
    )


def part_fields(message: Message, content_type: str) -> dict[str, str]:
    """The header fields of a report part (delivery-status or feedback-report), lower-cased names, first wins."""
    fields: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_type() != content_type:
            continue
        blocks = part.get_payload()
        if isinstance(blocks, str):  # some senders put the fields in as text
            blocks = [message_from_bytes(blocks.strip().encode("utf-8", "replace"))]
        for block in blocks:
            for name, value in block.items():
                fields.setdefault(name.lower(), " ".join(str(value).split()))
    return fields


@dataclass
class Handled:
    """What one report did: the messages it matched and what it was."""

    kind: str
    notification_ids: list[int]
    wake_at: list[datetime]


def handle(raw: bytes, now: datetime) -> Handled:
    """Read a bounce or complaint and apply it to the messages it names; the caller commits."""
    message = message_from_bytes(raw)
    reading = read(message)
    found = [db.session.get(Notification, nid) for nid in matched_ids(raw.decode("utf-8", "replace"))]
    found = [notification for notification in found if notification is not None]
    wake_at: list[datetime] = []
    for notification in found:
        wake_at += apply(notification, reading, now)
    return Handled(reading.kind, [notification.id for notification in found], wake_at)


def apply(notification: Notification, reading: Reading, now: datetime) -> list[datetime]:
    """A hard bounce: undelivered and suppressed; a soft one: recorded; a complaint: no more email to them."""
    detail = reading.diagnostic or reading.kind
    if reading.kind == "hard":
        report = receipts.Report(notification.id, "email", receipts.UNDELIVERED, reading.status, detail, True)
        return receipts.apply(report, now)
    if reading.kind == "soft":
        receipts.apply(receipts.Report(notification.id, "email", DEFERRED, reading.status, detail), now)
    elif reading.kind == "complaint":
        complain(notification, reading, now)
    return []


def complain(notification: Notification, reading: Reading, now: datetime) -> None:
    """The person marked an email as spam: record it, suppress the address and opt them out of email."""
    report = receipts.Report(notification.id, "email", COMPLAINED, reading.status, reading.diagnostic)
    if not receipts.record(report, now):
        return  # the same complaint again
    person = notification.recipient
    source = f"complaint ({reading.status or 'abuse'}) about notification {notification.id}"
    address = suppressions.address_of(person, "email")
    if address:
        suppressions.add(
            "email", address, f"the person reported an email as spam ({reading.status})", source, now, person.id
        )
    preference = preferences.set_preference(person.id, "email", ANY, False, source, now)
    stopped = preferences.suppress_open(preference, now)
    staff.audit("email_complaint", f"recipient {person.external_id}", stopped, source, actor="mail feedback", at=now)
