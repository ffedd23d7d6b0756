"""What each event means for notifications: the only place these rules live."""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from webapp.domain.accepting.events import Event
from webapp.domain.people import recipients
from webapp.domain.planning import bookings, notification_rows
from webapp.domain.planning.bookings import Applied
from webapp.domain.planning.notification_rows import Plan
from webapp.domain.sending import states
from webapp.extensions import db
from webapp.models import Booking, EventOutcome, Notification, NotificationType

T = NotificationType
RESCHEDULED = "booking rescheduled"
REMINDERS = (T.BOOKING_24H, T.BOOKING_1H, T.BOOKING_START, T.BOOKING_END)
PAYMENT_MESSAGES = {
    "payment.successful": T.PAYMENT_SUCCESSFUL,
    "payment.failed": T.PAYMENT_FAILED,
    "payment.refunded": T.PAYMENT_REFUNDED,
}
USER_MESSAGES = {
    "user.welcome": T.USER_WELCOME,
    "user.profile_updated": T.USER_PROFILE_UPDATED,
    "user.password_reset": T.USER_PASSWORD_RESET,
}


def reminder_times(booking: Booking) -> dict[NotificationType, datetime]:
    """Return when each reminder of a booking falls due."""
    start, end = booking.starts_at, booking.ends_at or booking.starts_at
    return {
        T.BOOKING_24H: start - timedelta(hours=24),
        T.BOOKING_1H: start - timedelta(hours=1),
        T.BOOKING_START: start,
        T.BOOKING_END: max(start, end - timedelta(minutes=5)),
    }


def plan_reminders(booking: Booking, plan: Plan) -> None:
    """Plan the reminders still to come when the event arrived; those past then are skipped, not sent late."""
    if booking.starts_at is None:
        return
    for kind, due in reminder_times(booking).items():
        # The inbox may plan an event a while after it arrived: a reminder that fell due meanwhile still goes,
        # late and recorded as late, unless the session has moved past where it means anything.
        if due > plan.received_at and still_of_use(kind, booking, plan.now):
            for person in booking.parties:
                notification_rows.add(plan, person, kind, due, booking)


def still_of_use(kind: NotificationType, booking: Booking, now: datetime) -> bool:
    """Whether a reminder is worth sending now: those before the session until it starts, the rest until it ends."""
    until = notification_rows.reminder_useful_until(kind, booking)
    return until is None or now < until


def handle_event(event: Event, plan: Plan) -> tuple[EventOutcome, str | None]:
    """Apply an event and plan its messages; return the outcome to record."""
    family = event.event_type.split(".")[0]
    handler = {"booking": handle_booking, "payment": handle_payment, "user": handle_user}[family]
    return handler(event, plan)


def handle_booking(event: Event, plan: Plan) -> tuple[EventOutcome, str | None]:
    """Apply a booking event to its booking, then plan what it calls for."""
    minutes = current_app.config["DEFAULT_DURATION_MINUTES"]
    applied = bookings.apply(event.event_type, event.timestamp, event.payload, minutes)
    if applied.outcome != EventOutcome.APPLIED:
        return applied.outcome, applied.detail
    if applied.created:
        plan.new_booking = applied.booking
    BOOKING_PLANS[event.event_type](applied, plan)
    return applied.outcome, None


def on_created(applied: Applied, plan: Plan) -> None:
    """Tell the expert of the request, and plan both parties' reminders."""
    booking = applied.booking
    if booking.expert:
        notification_rows.add(plan, booking.expert, T.BOOKING_CREATED, plan.now, booking)
    if applied.created:
        plan_reminders(booking, plan)  # a booking first seen now has no reminders to move
    else:
        replan(booking, plan)


def on_accepted(applied: Applied, plan: Plan) -> None:
    """Tell the client the expert accepted."""
    booking = applied.booking
    if booking.client:
        notification_rows.add(plan, booking.client, T.BOOKING_ACCEPTED, plan.now, booking)
    if applied.moved:
        replan(booking, plan)


def on_cancelled(applied: Applied, plan: Plan) -> None:
    """Cancel everything still to send, and tell both parties now."""
    booking = applied.booking
    notification_rows.write_pending()  # the batch's earlier events may have planned some of them
    states.cancel_open_for_booking(booking.id, "booking cancelled", plan.now)
    for person in booking.parties:
        notification_rows.add(plan, person, T.BOOKING_CANCEL, plan.now, booking)


def on_rescheduled(applied: Applied, plan: Plan) -> None:
    """Move the reminders to the new start."""
    replan(applied.booking, plan)


def on_reminder_24h(applied: Applied, plan: Plan) -> None:
    """Send the 24 h reminder now, unless it was already sent or is on its way."""
    booking = applied.booking
    if booking.starts_at is None:
        return
    for person in booking.parties:
        send_reminder_now(booking, person, plan)


def send_reminder_now(booking: Booking, person, plan: Plan) -> None:
    """Bring a planned 24 h reminder forward to now, or plan one due now."""
    notification_rows.write_pending()
    rows = db.session.scalars(
        select(Notification).filter_by(
            booking_id=booking.id, recipient_id=person.id, type=T.BOOKING_24H, booking_starts_at=booking.starts_at
        )
    )
    pending = [row.id for row in rows if row.status == states.S.PENDING]
    if states.change(pending, [states.S.PENDING], due_at=plan.now):
        plan.due_times.append(plan.now)
    else:
        notification_rows.add(plan, person, T.BOOKING_24H, plan.now, booking)


def replan(booking: Booking, plan: Plan) -> None:
    """Cancel reminders planned for another start, then plan the current start's."""
    notification_rows.write_pending()
    reminders = select(Notification.id).where(Notification.booking_id == booking.id, Notification.type.in_(REMINDERS))
    stale = db.session.scalars(reminders.where(Notification.booking_starts_at != booking.starts_at))
    cancelled = states.change(
        list(stale), states.OPEN, status=states.S.CANCELLED, last_error=RESCHEDULED, updated_at=plan.now
    )
    states.recorded(cancelled, states.S.CANCELLED, RESCHEDULED, plan.now)
    # Moved back to an earlier start: its reminders exist, cancelled by the first move.
    restorable = db.session.scalars(
        reminders.where(
            Notification.booking_starts_at == booking.starts_at,
            Notification.last_error == RESCHEDULED,
            Notification.scheduled_at > plan.received_at,
        )
    )
    restored = states.change(
        list(restorable),
        [states.S.CANCELLED],
        status=states.S.PENDING,
        last_error=None,
        due_at=Notification.scheduled_at,
        updated_at=plan.now,
    )
    states.recorded(restored, states.S.PENDING, "booking moved back to this start", plan.now)
    plan.due_times.extend(db.session.scalars(select(Notification.due_at).where(Notification.id.in_(restored))))
    plan_reminders(booking, plan)


BOOKING_PLANS = {
    "booking.created": on_created,
    "booking.accepted": on_accepted,
    "booking.cancelled": on_cancelled,
    "booking.rescheduled": on_rescheduled,
    "booking.reminder.24hr": on_reminder_24h,
}


def handle_payment(event: Event, plan: Plan) -> tuple[EventOutcome, str | None]:
    """Tell the payer about their payment now."""
    payload = event.payload
    person = recipients.upsert(payload.user_id, payload.user, event.timestamp)
    data = payload.model_dump(mode="json", include={"payment_id", "amount", "currency", "reason", "booking_id"})
    notification_rows.add(plan, person, PAYMENT_MESSAGES[event.event_type], plan.now, None, data)
    return EventOutcome.APPLIED, None


def handle_user(event: Event, plan: Plan) -> tuple[EventOutcome, str | None]:
    """Create or update the user, then send their account message now."""
    payload = event.payload
    person = recipients.upsert(payload.user_id, payload.contact(), event.timestamp)
    data = {"reset_url": payload.reset_url} if payload.reset_url else None
    notification_rows.add(plan, person, USER_MESSAGES[event.event_type], plan.now, None, data)
    return EventOutcome.APPLIED, None
