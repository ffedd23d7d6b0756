"""Bellhop's tables, one module per aggregate."""

from webapp.models.booking import Booking
from webapp.models.enums import (
    AttemptOutcome,
    BookingStatus,
    EventOutcome,
    EventSource,
    NotificationStatus,
    NotificationType,
)
from webapp.models.event import InboundEvent, PlannerLock
from webapp.models.notification import DeliveryAttempt, DeliveryReport, Notification, StatusChange
from webapp.models.preference import Preference
from webapp.models.recipient import Recipient
from webapp.models.staff import AuditEntry, Role, Staff, StaffSession
from webapp.models.suppression import Suppression

__all__ = [
    "AttemptOutcome",
    "AuditEntry",
    "Booking",
    "BookingStatus",
    "DeliveryAttempt",
    "DeliveryReport",
    "EventOutcome",
    "EventSource",
    "InboundEvent",
    "Notification",
    "PlannerLock",
    "NotificationStatus",
    "NotificationType",
    "Preference",
    "Recipient",
    "Role",
    "Staff",
    "StaffSession",
    "StatusChange",
    "Suppression",
]
