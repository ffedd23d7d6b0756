"""The support dashboard: notifications, bookings, inbound events, the audit log and template previews."""

from webapp.web.blueprints.dashboard import (  # noqa: F401  (each page module adds its routes to bp)
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
from webapp.web.blueprints.dashboard.blueprint import bp

__all__ = ["bp"]
