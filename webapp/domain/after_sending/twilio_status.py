"""Twilio's status callbacks: MessageStatus and ErrorCode, as delivery reports."""

import re
from datetime import datetime

from sqlalchemy import select

from webapp.domain.after_sending import receipts
from webapp.domain.after_sending.receipts import DELIVERED, SENT, UNDELIVERED, Report
from webapp.extensions import db
from webapp.models import Notification, NotificationStatus
from webapp.plumbing import queueing

# MessageStatus values that say something after Twilio accepted the message; the rest are before it.
STATE_OF = {"sent": SENT, "delivered": DELIVERED, "read": DELIVERED, "undelivered": UNDELIVERED, "failed": UNDELIVERED}
STATUSES = {"accepted", "scheduled", "queued", "sending", "canceled", "receiving", "received", *STATE_OF}

# What Twilio's delivery error codes mean (twilio.com/docs/api/errors).
MEANING = {
    "30001": "queue overflow",
    "30002": "account suspended",
    "30003": "unreachable destination handset",
    "30004": "message blocked",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier",
    "30008": "unknown error",
    "30009": "missing segment",
    "30010": "message price exceeds max price",
    "30034": "message from an unregistered number",
    "21610": "attempt to send to unsubscribed recipient",
    "21614": "'To' number is not a valid mobile number",
}
ROW_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only, and small enough for a BIGINT
ERROR_CODE = re.compile(r"[0-9]{1,10}")
# Codes that say the number itself can never receive: suppress it.
DEAD_NUMBER = {"30005", "30006", "21610", "21614"}


def find(notification_param: str | None, sid: str) -> Notification | None:
    """The SMS a callback is about: the one its callback URL names if it is that message, else the one with its sid."""
    if notification_param and ROW_ID.fullmatch(notification_param):
        named = db.session.get(Notification, int(notification_param))
        return named if named is not None and is_that_message(named, sid) else None
    return db.session.scalar(
        select(Notification).where(Notification.channel == "sms", Notification.provider_ref == sid)
    )


def is_that_message(notification: Notification, sid: str) -> bool:
    """Whether a callback with this sid can be about this notification: an SMS with that sid, or one being sent.

    Twilio may call back before the worker has recorded the sid it answered with; any other mismatch is a callback
    meant for another message (or another deployment on the same Twilio account), and must change nothing.
    """
    if notification.channel != "sms":
        return False
    if notification.provider_ref is None:
        return notification.status == NotificationStatus.PROCESSING
    return notification.provider_ref == sid


def report(notification: Notification, status: str, error_code: str | None) -> Report | None:
    """The report a callback makes, or None for a status before Twilio sent the message on."""
    state = STATE_OF.get(status)
    if state is None:
        return None
    code = error_code or None
    meaning = MEANING.get(code, "see twilio.com/docs/api/errors") if code else None
    detail = f"Twilio {status}" + (f": {meaning}" if code else "")
    return Report(notification.id, "twilio", state, code, detail, dead_address=code in DEAD_NUMBER)


def record(notification: Notification, status: str, error_code: str | None, now: datetime) -> None:
    """Apply a status callback to its message, commit, and wake the dispatcher for any fallback it plans."""
    found = report(notification, status, error_code)
    wake_at = receipts.apply(found, now) if found else []
    db.session.commit()
    queueing.arm_wakeups(wake_at)  # after the commit, so the woken dispatcher sees the rows
