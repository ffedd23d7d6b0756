"""Status and type enumerations stored as strings."""

from enum import Enum

from sqlalchemy import Enum as SAEnum


class BookingStatus(str, Enum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"


class NotificationStatus(str, Enum):
    PENDING = "pending"
    QUEUED = "queued"
    PROCESSING = "processing"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"  # the recipient opted out of this channel or category
    EXPIRED = "expired"  # its moment passed (the booking began or ended) before it could be delivered


class NotificationType(str, Enum):
    BOOKING_CREATED = "booking_created"
    BOOKING_ACCEPTED = "booking_accepted"
    BOOKING_24H = "booking_24h"
    BOOKING_1H = "booking_1h"
    BOOKING_START = "booking_start"
    BOOKING_END = "booking_end"
    BOOKING_CANCEL = "booking_cancel"
    PAYMENT_SUCCESSFUL = "payment_successful"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_REFUNDED = "payment_refunded"
    USER_WELCOME = "user_welcome"
    USER_PROFILE_UPDATED = "user_profile_updated"
    USER_PASSWORD_RESET = "user_password_reset"


class AttemptOutcome(str, Enum):
    SENT = "sent"
    TRANSIENT_ERROR = "transient_error"
    PERMANENT_ERROR = "permanent_error"


class EventSource(str, Enum):
    WEBHOOK = "webhook"
    AMQP = "amqp"
    CLI = "cli"


class EventOutcome(str, Enum):
    APPLIED = "applied"
    STALE = "stale"
    IGNORED = "ignored"
    # The planner could not apply it (a bug or bad data): recorded, and skipped so its batch goes on.
    FAILED = "failed"


def string_enum(enum_class: type[Enum]) -> SAEnum:
    """Store an enum by its value in a plain string column (no native DB enum to migrate)."""
    return SAEnum(
        enum_class,
        native_enum=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
