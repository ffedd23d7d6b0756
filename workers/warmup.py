"""Warm a worker's caches before it forks, so every work horse starts with them.

RQ forks a fresh horse per job, and a horse's caches die with it: without this, each
deliver job would compile the same SQL statements and Jinja templates again, which
costs about as much as sending fifty messages.
"""

from webapp.domain.sending import attempts, states
from webapp.domain.sending.templates import rendering
from webapp.extensions import db
from webapp.models.types import utcnow


def warm_up() -> None:
    """Run the delivery path's statements on no rows, and compile every message template."""
    now = utcnow()
    try:
        attempts.claim_batch([])
        states.verdicts([0])
        states.hold_queued([0], now)
        states.abandon([0], now)
        states.hold([0], now)
        states.mark_sent([{"notification_id": 0, "now": now, "subject": "", "body": "", "provider_ref": None}])
        states.mark_failed(0, now, "")
        states.mark_retry(0, now, "", now)
    finally:
        # Nothing above matched a row; roll back anyway, and leave no connection for the horses to share.
        db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    env = rendering.environment()
    for name in env.list_templates():
        env.get_template(name)
