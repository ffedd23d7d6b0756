"""Staff sessions: signing in and out, and when a session ends; the staff_sessions table decides.

The browser's cookie carries only a random token (see webapp/web/sessions.py). A copied cookie is worth
nothing once its row has ended: at sign-out, after the idle time, after the absolute lifetime, or when
the account's password changes or the account is locked. Each entry point here audits and commits.
"""

import hashlib
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from webapp.domain.staff.audit_log import audit
from webapp.extensions import db
from webapp.models import Staff, StaffSession
from webapp.models.types import utcnow

# last_seen_at is written at most this often, so browsing is not one UPDATE per page.
SEEN_RESOLUTION = timedelta(seconds=60)
# A session's row is kept this long after it ended or ran out (a record, and the sign-in throttle's "usual
# address" of the last 30 days), then purged; the audit log keeps every sign-in and sign-out for good.
KEEP_AFTER_END = timedelta(days=30)


def fingerprint(token: str) -> str:
    """What the table keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def signed_in(account: Staff, token: str, address: str | None) -> None:
    """Start a session for the account whose password just checked out; audited and committed."""
    db.session.add(StaffSession(token_hash=fingerprint(token), staff_id=account.id, address=address))
    account.last_login_at = utcnow()
    audit("login", target=account.email, actor=account.email)
    db.session.commit()


def refused(email: str, action: str, reason: str | None = None) -> None:
    """Record a sign-in that did not happen (a wrong password, or one held back); committed."""
    audit(action, target=email.lower(), actor="anonymous", detail=reason)
    db.session.commit()


def signed_out(account: Staff, token: str | None) -> None:
    """End the session this token opened, whatever its account; the row stays as a record. Committed."""
    audit("logout", target=account.email)
    if isinstance(token, str):
        end_rows(StaffSession.token_hash == fingerprint(token), "signed_out")
    db.session.commit()


def live(account: Staff, token: str | None) -> StaffSession | None:
    """The account's live session this token opened, or None; ends it here if it has run out."""
    if not isinstance(token, str):
        return None
    row = db.session.scalar(
        select(StaffSession).where(
            StaffSession.token_hash == fingerprint(token),
            StaffSession.staff_id == account.id,
            StaffSession.ended_at.is_(None),
        )
    )
    if row is None:
        return None
    now = utcnow()
    reason = run_out(row, now)
    if reason:
        end_rows(StaffSession.id == row.id, reason)
        db.session.commit()
        return None
    if now - row.last_seen_at >= SEEN_RESOLUTION:
        row.last_seen_at = now  # the idle clock starts again
        db.session.commit()
    return row


def run_out(row: StaffSession, now) -> str | None:
    """Why this session is over by time ('idle' or 'lifetime'), or None while it lasts."""
    config = current_app.config
    if now - row.started_at >= timedelta(minutes=config["SESSION_LIFETIME_MINUTES"]):
        return "lifetime"
    if now - row.last_seen_at >= timedelta(minutes=config["SESSION_IDLE_MINUTES"]):
        return "idle"
    return None


def end_all(account: Staff, reason: str) -> int:
    """End every live session of an account (new password, locked); return how many. The caller commits."""
    return end_rows(StaffSession.staff_id == account.id, reason)


def end_rows(condition, reason: str) -> int:
    """Mark the live sessions matching condition ended now."""
    result = db.session.execute(
        update(StaffSession)
        .where(condition, StaffSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def purge_old(now) -> int:
    """Delete the sessions that ended, or ran out unused, over KEEP_AFTER_END ago; return how many. Committed."""
    cutoff = now - KEEP_AFTER_END
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    # One never ended by hand ran out by its last use plus the idle time, at the latest.
    ran_out_long_ago = StaffSession.ended_at.is_(None) & (StaffSession.last_seen_at < cutoff - idle)
    purged = db.session.execute(delete(StaffSession).where((StaffSession.ended_at < cutoff) | ran_out_long_ago))
    db.session.commit()
    return purged.rowcount
