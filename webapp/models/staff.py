"""Support staff who sign in to the dashboard, and the append-only record of what they did."""

from datetime import datetime
from enum import Enum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.enums import string_enum
from webapp.models.types import UTCDateTime, utcnow


class Role(str, Enum):
    VIEWER = "viewer"  # reads everything
    OPERATOR = "operator"  # also retries, cancels, replays and sends tests
    ADMIN = "admin"  # also staff accounts and Flask-Admin

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Staff(UserMixin, db.Model):
    """A dashboard account; the password is stored only as a salted hash."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(string_enum(Role))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        """The session's account reference; it carries a piece of the password hash, so a new password
        signs out every other session (as Django's session auth hash does)."""
        return f"{self.id}:{self.password_hash[-16:]}"

    def can(self, role: Role) -> bool:
        """Whether this account's role includes the given one."""
        return self.role.rank >= role.rank


class AuditEntry(db.Model):
    """Who did what, when, from where, to how many rows. The application only ever inserts."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(500))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    address: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)


class AppendOnly(RuntimeError):
    """An attempt to change or remove an audit entry."""


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def refuse_changes(_mapper, _connection, entry: AuditEntry) -> None:
    """Keep the audit log append-only: the application may add entries, never edit or remove them."""
    raise AppendOnly(f"audit entry {entry.id} is append-only")


class StaffSession(db.Model):
    """One sign-in: the browser holds its token, the server can end it (sign-out, idle, lifetime, password)."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The token's SHA-256: a copy of this table opens no session.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    address: Mapped[str | None] = mapped_column(String(64))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # signed_out, idle, lifetime, password_changed, deactivated
    end_reason: Mapped[str | None] = mapped_column(String(32))
