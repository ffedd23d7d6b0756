"""Staff accounts: creation, password checks, changes of role, lock or password."""

from functools import cache

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.domain.people import addresses
from webapp.domain.staff import sessions
from webapp.domain.staff.audit_log import audit
from webapp.extensions import db
from webapp.models import Role, Staff

MIN_PASSWORD = 12


@cache
def dummy_hash() -> str:
    """A hash to check against when the account does not exist, so both answers take as long.

    Made on first use, not at import: hashing costs every process start 80 ms, and only the web signs in.
    """
    return generate_password_hash("not-a-real-password")


class StaffError(ValueError):
    """A staff account cannot be created or changed as asked."""


def create(email: str, password: str, role: Role) -> Staff:
    """Add an account; the password is kept only as werkzeug's salted scrypt hash."""
    try:
        email = addresses.normalise_email(email.strip()).lower()
    except addresses.AddressError as error:
        raise StaffError(str(error)) from None  # a newline, markup or no domain: not an address to sign in with
    check_password(password)
    if db.session.scalar(select(func.count()).select_from(Staff).where(Staff.email == email)):
        raise StaffError(f"{email} already has an account")
    account = Staff(email=email, password_hash=generate_password_hash(password), role=role)
    db.session.add(account)
    return account


def check_password(password: str) -> None:
    """Refuse a password shorter than the minimum, not counting spaces at either end (a password of spaces)."""
    if len(password.strip()) < MIN_PASSWORD:
        raise StaffError(f"the password needs at least {MIN_PASSWORD} characters besides spaces at either end")


def add(email: str, password: str, role: Role, actor: str | None = None) -> Staff:
    """Add an account, audited, and commit; StaffError says why not and changes nothing."""
    account = create(email, password, role)
    audit("staff_created", target=f"{account.email} ({role.value})", actor=actor)
    db.session.commit()
    return account


def change(
    account: Staff, role: Role, active: bool, password: str | None = None, actor: str | None = None
) -> list[str]:
    """Change an account's role, lock or password, audited, and commit; return what changed.

    StaffError says why not, and the change is rolled back.
    """
    try:
        changed = update(account, role, active, password)
    except StaffError:
        db.session.rollback()
        raise
    if changed:
        audit(
            "staff_changed",
            target=account.email,
            detail=", ".join(describe(account, name) for name in changed),
            actor=actor,
        )
    db.session.commit()
    return changed


def describe(account: Staff, changed: str) -> str:
    """How the audit log shows one change: the new role or lock, or just that the password changed."""
    if changed == "role":
        return f"role={account.role.value}"
    if changed == "active":
        return f"active={account.active}"
    return changed


def ensure_account(email: str, password: str, role: Role, action: str, actor: str | None = None) -> Staff:
    """Create the account, or reset its password, role and lock so these credentials open it; audited, committed."""
    account = db.session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
    if account is None:
        account = create(email, password, role)
    else:
        check_password(password)
        account.password_hash, account.role, account.active = generate_password_hash(password), role, True
        sessions.end_all(account, "password_changed")
    audit(action, target=account.email, actor=actor)
    db.session.commit()
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
        check_password_hash(dummy_hash(), password)
        return None
    if not check_password_hash(account.password_hash, password) or not account.active:
        return None
    return account
