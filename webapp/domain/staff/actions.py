"""What staff do from the dashboard: each action moves rows, audits itself, commits and wakes the dispatcher."""

from dataclasses import dataclass

from flask_login import current_user
from sqlalchemy import func, select

from webapp.domain.accepting.inbox import stage
from webapp.domain.after_sending import suppressions
from webapp.domain.sending import states
from webapp.domain.staff import audit_log
from webapp.extensions import db
from webapp.models import Booking, InboundEvent, Notification, Suppression
from webapp.models.contact_fields import CONTACT_FOR_CHANNEL
from webapp.models.types import utcnow
from webapp.plumbing import queueing

SEND_TEST_JOB = "workers.jobs.send_test"
REPLAY_MARK = ":replay:"
MAX_REPLAY_TRIES = 100


@dataclass(frozen=True)
class Action:
    """A staff action on notifications: its compare-and-set, how its reason reads, whether rows fall due now."""

    change: object
    done_by: str
    due_now: bool


ACTIONS = {
    "retry": Action(states.retry_now, "retried by", due_now=True),
    "cancel": Action(states.cancel_now, "cancelled by", due_now=False),
    "resend": Action(states.resend_now, "resent by", due_now=True),
}
# Which statuses each action can move, for counting what it would change before it runs.
ELIGIBLE = {"retry": states.RETRYABLE, "cancel": states.OPEN, "resend": states.FINISHED}


def act(action: str, ids: list[int], target: str, detail: str | None = None) -> int:
    """Move rows through the action's compare-and-set, audit it, commit, then wake the dispatcher; return rows moved.

    Rows whose status moved on meanwhile (a worker, a receipt, another operator) are left alone.
    """
    now, kind = utcnow(), ACTIONS[action]
    moved = kind.change(ids, now, f"{kind.done_by} {current_user.email}")
    audit_log.audit(action, target=target, rows=len(moved), detail=detail)
    db.session.commit()
    if moved and kind.due_now:
        queueing.arm_wakeups([now])  # after the commit, so the woken dispatcher sees the rows
    return len(moved)


def cancel_pending(booking: Booking) -> int:
    """Cancel every message of the booking not yet being sent."""
    ids = booking_messages(booking, Notification.status.in_(states.OPEN))
    return act("cancel", ids, target=f"booking {booking.external_id}: all pending")


def resend(booking: Booking, kind: str) -> int:
    """Send one type of the booking's messages again, now, on the channels it went out on."""
    ids = booking_messages(booking, Notification.type == kind)
    return act("resend", ids, target=f"booking {booking.external_id}: {kind}")


def booking_messages(booking: Booking, condition) -> list[int]:
    """Ids of the booking's notifications that meet the condition."""
    query = select(Notification.id).where(Notification.booking_id == booking.id, condition)
    return list(db.session.scalars(query))


def replay(original: InboundEvent) -> str:
    """Put a stored event in the inbox again under a new id, audited in the same transaction; return a summary."""
    replay_id = stage_next_replay(original)
    audit_log.audit(
        "replay", target=f"event {original.event_id} as {replay_id}", rows=1, detail="waiting to be planned"
    )
    db.session.commit()
    queueing.wake_planner()  # after the commit, so the planner finds the event
    return f"replayed as {replay_id}: waiting to be planned"


def stage_next_replay(original: InboundEvent) -> str:
    """Stage the event as `<event id>:replay:<n>`, the first n not yet taken; return that id.

    The unique event id decides between two admins replaying at once: the one that loses finds its id
    taken and tries the next number, so each replay gets an id of its own.
    """
    prefix = f"{original.event_id}{REPLAY_MARK}"
    taken = (
        select(func.count()).select_from(InboundEvent).where(InboundEvent.event_id.startswith(prefix, autoescape=True))
    )
    first = db.session.scalar(taken) + 1
    for number in range(first, first + MAX_REPLAY_TRIES):
        result = stage(original.payload, f"{prefix}{number}", original.source, replay_of=replay_root(original))
        if not result.duplicate:
            return f"{prefix}{number}"
    raise RuntimeError(f"no free replay id for {original.event_id} after {MAX_REPLAY_TRIES} tries")


def replay_root(event: InboundEvent) -> str:
    """The id of the event first received, for a replay of a replay too."""
    return event.event_id.split(REPLAY_MARK)[0]


def send_test(kind: str, channel: str, locale: str, booking_id: str | None, party: str, address: str) -> str:
    """Queue a test send of a template to an address an operator typed, audited; return the job's id."""
    contact = {CONTACT_FOR_CHANNEL.get(channel, "name"): address}
    job = queueing.queue().enqueue(
        SEND_TEST_JOB,
        kind,
        channel,
        locale,
        booking_id,
        party,
        contact,
        result_ttl=3600,
        failure_ttl=3600,
        job_timeout=60,
        meta={"started_by": current_user.id},
    )
    audit_log.audit("send_test", target=f"{locale}/{kind}/{channel} to {address}", rows=1, detail=f"job {job.id}")
    db.session.commit()
    return job.id


def lift_suppression(listed: Suppression, external_id: str, reason: str) -> None:
    """Take an address off the suppression list for the reason staff gave, audited, and commit."""
    suppressions.lift(listed)
    detail = f"{listed.channel} {listed.address}: was {listed.reason!r}; lifted because {reason!r}"
    audit_log.audit("suppression_lifted", target=f"recipient {external_id}", rows=1, detail=detail)
    db.session.commit()
