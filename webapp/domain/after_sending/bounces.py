"""Email bounces and complaints, matched back to the message by its envelope sender (VERP).

Every email leaves with a Return-Path of its own, bounces+<id>-<signature>@domain, so a
bounce names the message it is about. The signature (an HMAC of the id under SECRET_KEY)
means mail sent to the bounce address by anyone else cannot suppress an address: a report
without a valid one is recorded as unmatched and changes nothing.

A delivery status notification (RFC 3464) or a plain-text notice (Exim, qmail, Sendmail and
others) is read for its RFC 3463 status and diagnostic text, and classified by reason the way
sisimai does (bounce_reasons). Only a dead address is suppressed. Complaints are RFC 5965 (ARF).
"""

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import Message
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import func, select

from webapp.domain.after_sending import bounce_reasons, receipts, suppressions
from webapp.domain.people import preferences
from webapp.domain.staff import audit_log
from webapp.extensions import db
from webapp.models import DeliveryReport, Notification, Recipient
from webapp.models.preference import ANY
from webapp.plumbing import metrics, queueing

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
    """What a report says: its kind, sisimai's reason for it, its RFC 3463 status and its diagnostic."""

    kind: str  # hard, soft (may pass), failed (for good, address alive), complaint, or none (no bounce at all)
    status: str | None = None
    diagnostic: str | None = None
    reason: str | None = None


def read(message: Message) -> Reading:
    """Classify a bounce or complaint message, its status and diagnostic cut to what the tables keep."""
    reading = classify(message)
    reading.status = (reading.status or "")[:STATUS_CHARS] or None
    reading.diagnostic = printable(reading.diagnostic or "")[:DIAGNOSTIC_CHARS] or None
    return reading


# A report's text comes from whoever wrote the bounce: keep what fits the columns, not a 500.
STATUS_CHARS, DIAGNOSTIC_CHARS = 32, 1000
# What a notice says before it quotes the message fits in far less; a longer one is read no further.
NOTICE_CHARS = 8000
# Where a plain-text notice stops speaking and starts quoting the message it returns.
QUOTE_MARKERS = re.compile(
    r"^[\s-]*(unsent message follows|original message follows|original message|returned message|"
    r"(a |the )?(copy|headers?) of (the |your )?(original )?message|below this line is a copy|"
    r"message headers follow|the header and text of the original message|content-type: message/rfc822)",
    re.I | re.M,
)
# The lines of a notice that quote a server's reply ("550 5.1.1 ...", "<<< 554 ...", "... said: 550 ...").
REPLY_LINE = re.compile(r"^.*(?:^|\s|<<<|said:)\s*[45]\d\d[ -].*$", re.M)
# An RFC 3463 status as notices quote it: "550 5.1.1 User unknown", "(#5.1.1)", "Status: 5.2.2".
STATUS_IN_TEXT = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def classify(message: Message) -> Reading:
    """Read a report's kind, reason, status and diagnostic."""
    if is_complaint(message):
        feedback = part_fields(message, "message/feedback-report")
        return Reading("complaint", feedback.get("feedback-type", "abuse"), feedback.get("user-agent"), "feedback")
    fields = part_fields(message, "message/delivery-status")
    notice = notice_text(message)
    diagnostic = (fields.get("diagnostic-code") or "").split(";", 1)[-1].strip() or server_replies(notice)
    status = fields.get("status") or status_in(diagnostic) or status_in(notice)
    status = status_in(status or "")
    delayed = (fields.get("action") or "").lower().startswith(("delayed", "expired"))
    reason = bounce_reasons.reason_for(status, diagnostic, delayed)
    return Reading(kind_of(reason, status, diagnostic, delayed), status, diagnostic, reason)


def kind_of(reason: str, status: str | None, diagnostic: str, delayed: bool) -> str:
    """Hard only when the address can never receive; else soft if it may pass, failed if not; none if no bounce."""
    if reason in ("delivered", "vacation", "undefined"):
        return "none"
    if bounce_reasons.is_hard(reason, status):
        return "hard"
    if delayed or bounce_reasons.is_temporary(status, diagnostic):
        return "soft"
    return "failed"


def status_in(text: str) -> str | None:
    """The first RFC 3463 status in a text, normalised (5.1.1), or None."""
    found = STATUS_IN_TEXT.search(text)
    return ".".join(found.groups()) if found else None


def notice_text(message: Message) -> str:
    """What a notice says in words: its first text part (or a broken report's preamble), before any quote."""
    text = first_text(message) or message.preamble or ""
    marker = QUOTE_MARKERS.search(text)
    return text[: marker.start() if marker else None][:NOTICE_CHARS]


def first_text(message: Message) -> str:
    """The first text part of a message, as text (HTML stripped of its tags)."""
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "text/html") and not part.is_multipart():
            text = decoded(part)
            return re.sub(r"<[^>]+>", " ", text) if part.get_content_type() == "text/html" else text
    return ""


def server_replies(notice: str) -> str:
    """A notice from the first server reply it quotes on (with the lines that continue it), else all of it."""
    first = REPLY_LINE.search(notice)
    return notice[first.start() :] if first else notice


def decoded(part: Message) -> str:
    """A text part as a string, in its declared charset when Python knows it, else UTF-8 with replacements."""
    payload = part.get_payload(decode=True) or b""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def printable(text: str) -> str:
    """Text safe to store: 8-bit bytes the email parser kept as surrogates become replacement characters."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\x00", "")


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
    """Read a bounce or complaint, apply it to the messages it names, commit, and wake any fallback it plans."""
    handled = handle_in_transaction(raw, now)
    db.session.commit()
    queueing.arm_wakeups(handled.wake_at)  # after the commit, so the woken dispatcher sees the rows
    return handled


class UnreadableBounce(ValueError):
    """A message the standard library's parser cannot take apart; nothing was changed."""


def handle_in_transaction(raw: bytes, now: datetime) -> Handled:
    """Read a bounce or complaint and apply it to the messages it names, in the current transaction."""
    try:
        message = message_from_bytes(raw)
        reading = read(message)
    except RecursionError:  # the parser and walk() recurse once per level of MIME nesting
        raise UnreadableBounce("the message is nested too deeply to read; nothing was changed") from None
    found = [db.session.get(Notification, nid) for nid in matched_ids(raw.decode("utf-8", "replace"))]
    found = [notification for notification in found if notification is not None and still_answerable(notification, now)]
    wake_at: list[datetime] = []
    for notification in found:
        wake_at += apply(notification, reading, now)
    return Handled(reading.kind, [notification.id for notification in found], wake_at)


def still_answerable(notification: Notification, now: datetime) -> bool:
    """Whether a report may still name this message: sent no longer ago than BELLHOP_BOUNCE_DAYS."""
    sent = notification.sent_at
    return sent is None or now - sent <= timedelta(days=current_app.config["BOUNCE_DAYS"])


def apply(notification: Notification, reading: Reading, now: datetime) -> list[datetime]:
    """Hard: undelivered and suppressed; failed: undelivered; soft: recorded; complaint: no more email to them."""
    if reading.reason in bounce_reasons.SENDER_SIDE:
        metrics.EMAIL_SENDER_FAILURES.labels(reading.reason).inc()
    detail = reading.diagnostic or reading.reason or reading.kind
    if reading.kind in ("hard", "failed"):
        dead = reading.kind == "hard"
        report = receipts.Report(
            notification.id, "email", receipts.UNDELIVERED, reading.status, detail, dead, reading.reason
        )
        return receipts.apply(report, now)
    if reading.kind == "soft":
        report = receipts.Report(notification.id, "email", DEFERRED, reading.status, detail, reason=reading.reason)
        receipts.apply(report, now)
        suppress_if_soft_too_often(notification, reading, now)
    elif reading.kind == "complaint":
        complain(notification, reading, now)
    return []


def suppress_if_soft_too_often(notification: Notification, reading: Reading, now: datetime) -> None:
    """A full or disabled mailbox on SOFT_BOUNCE_LIMIT emails to the address within SOFT_BOUNCE_DAYS: suppress it."""
    limit, days = current_app.config["SOFT_BOUNCE_LIMIT"], current_app.config["SOFT_BOUNCE_DAYS"]
    address = suppressions.address_of(notification.recipient, "email")
    if not limit or not address or reading.reason not in bounce_reasons.RECIPIENT_SOFT:
        return
    messages = db.session.scalar(
        select(func.count(func.distinct(DeliveryReport.notification_id)))
        .join(Notification, Notification.id == DeliveryReport.notification_id)
        .join(Recipient, Recipient.id == Notification.recipient_id)
        .where(
            suppressions.notification_address() == address,
            DeliveryReport.source == "email",
            DeliveryReport.reason.in_(bounce_reasons.RECIPIENT_SOFT),
            DeliveryReport.at > now - timedelta(days=days),
        )
    )
    if messages >= limit:
        reason = f"{reading.reason} on {messages} emails within {days} days: {reading.diagnostic or reading.status}"
        suppressions.add("email", address, reason, "email bounces", now, notification.recipient_id)


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
    audit_log.audit(
        "email_complaint", f"recipient {person.external_id}", stopped, source, actor="mail feedback", at=now
    )
