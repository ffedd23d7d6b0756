"""The support dashboard: notifications, bookings, inbound events, the audit log and template previews."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

# Each module adds its pages to bp.
from webapp.blueprints.dashboard import (  # noqa: E402,F401
    audit,
    bookings,
    bulk,
    events,
    home,
    live,
    notifications,
    templates_views,
)
