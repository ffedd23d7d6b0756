"""The support dashboard: notifications, bookings, inbound events, the audit log and template previews."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

# Each module adds its pages to bp.
from webapp.blueprints.dashboard import audit, bookings, events, home, notifications, templates_views  # noqa: E402,F401
