"""Staff accounts: creation, password checks, and the audit log."""

from datetime import datetime

from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.domain import sessions
from webapp.extensions import db
from webapp.models import AuditEntry, Role, Staff
from webapp.models.types import utcnow

MIN_PASSWORD = 12
# A hash to check against when the account does not exist, so both answers take as long.
DUMMY_HASH = generate_password_hash("not-a-real-password")


class StaffError(ValueError):
    """A staff account cannot be created or changed as asked."""


def create(email: str, password: str, role: Role) -> Staff:
    """Add an account; the password is kept only as werkzeug's salted scrypt hash."""
    email = email.strip().lower()
    if "@" not in email:
        raise StaffError(f"{email!r} is not an email address")
    check_password(password)
    if db.session.scalar(select(func.count()).select_from(Staff).where(Staff.email == email)):
        raise StaffError(f"{email} already has an account")
    account = Staff(email=email, password_hash=generate_password_hash(password), role=role)
    db.session.add(account)
    return account


def check_password(password: str) -> None:
    """Refuse a password shorter than the minimum."""
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"the password needs at least {MIN_PASSWORD} characters")


def ensure_account(email: str, password: str, role: Role) -> Staff:
    """Create the account, or reset its password, role and lock so these credentials open it."""
    account = db.session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
    if account is None:
        return create(email, password, role)
    check_password(password)
    account.password_hash, account.role, account.active = generate_password_hash(password), role, True
    sessions.end_all(account, "password_changed")
    return account


def update(account: Staff, role: Role, active: bool, password: str | None = None) -> list[str]:
    """Change an account's role, lock or password; return what changed. The last active admin stays one."""
    if account.role == Role.ADMIN and account.active and (role != Role.ADMIN or not active):
        if active_admins() <= 1:
            raise StaffError("this is the last active admin; make another admin first")
    changed = [
        name for name, old, new in (("role", account.role, role), ("active", account.active, active)) if old != new
    ]
    if password:
        check_password(password)
    account.role, account.active = role, active
    if password:
        account.password_hash = generate_password_hash(password)
        changed.append("password")
        sessions.end_all(account, "password_changed")
    if not active:
        sessions.end_all(account, "deactivated")
    return changed


def active_admins() -> int:
    """How many active admin accounts there are."""
    return db.session.scalar(
        select(func.count()).select_from(Staff).where(Staff.role == Role.ADMIN, Staff.active.is_(True))
    )


def authenticate(email: str, password: str) -> Staff | None:
    """The active account these credentials open, or None."""
    account = db.session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
    if account is None:
        check_password_hash(DUMMY_HASH, password)
        return None
    if not check_password_hash(account.password_hash, password) or not account.active:
        return None
    return account


def audit(
    action: str,
    target: str | None = None,
    rows: int = 0,
    detail: str | None = None,
    actor: str | None = None,
    at: datetime | None = None,
) -> None:
    """Add an audit entry to the current transaction; the caller commits."""
    in_request = has_request_context()
    who = actor or (current_user.email if in_request and current_user.is_authenticated else "anonymous")
    db.session.add(
        AuditEntry(
            at=at or utcnow(),
            actor=who,
            action=action,
            target=target,
            rows=rows,
            address=request.remote_addr if in_request else None,
            detail=detail,
        )
    )
