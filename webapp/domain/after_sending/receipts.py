"""What providers report after accepting a message: sent on, delivered, undelivered.

Reports may come late, twice or out of order. Each is recorded once per message, source and
state, and the message's delivery state only ever moves forward: sent, then undelivered, then
delivered (a carrier's late "delivered" outranks its earlier "undelivered", never the reverse).
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, update

from webapp.domain.after_sending import fallbacks, suppressions
from webapp.domain.sending import history
from webapp.extensions import db, insert_or_skip
from webapp.models import DeliveryReport, Notification
from webapp.plumbing import metrics

SENT, DELIVERED, UNDELIVERED = "sent", "delivered", "undelivered"
RANK = {SENT: 1, UNDELIVERED: 2, DELIVERED: 3}
STATES = tuple(RANK)


@dataclass(frozen=True)
class Report:
    """One provider report about one message."""

    notification_id: int
    source: str  # twilio, email, telegram
    state: str  # one of STATES, or a state recorded only (a soft bounce: "deferred")
    code: str | None = None
    detail: str | None = None
    # The provider says the address is dead: suppress it.
    dead_address: bool = False
    reason: str | None = None  # a bounce's reason (bounce_reasons)


def apply(report: Report, now: datetime) -> list[datetime]:
    """Record a report and move the message's delivery state forward; return wake-up times for fallbacks.

    A repeat of a report already recorded changes nothing.
    """
    if not record(report, now):
        return []
    notification = db.session.get(Notification, report.notification_id)
    if report.dead_address and report.state == UNDELIVERED:
        suppress_address(notification, report, now)
    if report.state not in RANK or not advance(report, now):
        return []
    metrics.DELIVERY_REPORTS.labels(notification.channel, report.state).inc()
    if report.state == DELIVERED:
        fallbacks.cancel_after_delivery(notification.id, now)
        return []
    if report.state == UNDELIVERED:
        return fallbacks.plan_after([notification.id], now)
    return []


def record(report: Report, now: datetime) -> bool:
    """Insert the report unless this message already has one from this source in this state."""
    statement = (
        insert_or_skip(DeliveryReport)
        .values(
            notification_id=report.notification_id,
            at=now,
            source=report.source,
            state=report.state,
            code=report.code,
            detail=(report.detail or "")[:2000] or None,
            reason=report.reason,
        )
        .on_conflict_do_nothing(index_elements=["notification_id", "source", "state"])
        .returning(DeliveryReport.id)
    )
    return db.session.scalar(statement) is not None


def advance(report: Report, now: datetime) -> bool:
    """Move the delivery state forward to the report's, never back; return whether it moved."""
    lower = [state for state, rank in RANK.items() if rank < RANK[report.state]]
    statement = (
        update(Notification)
        .where(
            Notification.id == report.notification_id,
            or_(Notification.delivery_state.is_(None), Notification.delivery_state.in_(lower)),
        )
        .values(delivery_state=report.state, delivery_detail=describe(report), delivery_updated_at=now)
        .returning(Notification.id)
    )
    return db.session.scalar(statement) is not None


def describe(report: Report) -> str | None:
    """The detail shown beside the state: the provider's code and what it means."""
    return history.report_detail(report) or None


def suppress_address(notification: Notification, report: Report, now: datetime) -> None:
    """The provider says the address is dead: put it on the suppression list."""
    address = suppressions.address_of(notification.recipient, notification.channel)
    if address:
        reason = f"{report.source} reported undelivered: {describe(report)}"
        suppressions.add(
            notification.channel, address, reason, f"{report.source} report", now, notification.recipient_id
        )
