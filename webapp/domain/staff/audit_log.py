"""The audit log: who did what, from where, to which rows; every staff action adds one entry."""

from datetime import datetime

from flask import has_request_context, request
from flask_login import current_user

from webapp.extensions import db
from webapp.models import AuditEntry
from webapp.models.types import utcnow


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
