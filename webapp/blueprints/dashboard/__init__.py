"""The support dashboard: notifications, bookings, inbound events, the audit log and template previews."""

from flask import Blueprint

from webapp.domain.staff import readiness

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.app_context_processor
def banner():
    """Every page's header can ask whether reminders are at risk (only signed-in pages do)."""
    return {"reminder_risks": readiness.risks}


# Each module adds its pages to bp.
from webapp.blueprints.dashboard import (  # noqa: E402,F401
    audit,
    bookings,
    bulk,
    events,
    home,
    live,
    notifications,
    people,
    templates_views,
)
