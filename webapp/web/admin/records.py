"""Read-only Flask-Admin views of the tables Bellhop itself writes."""

from flask_admin import AdminIndexView
from flask_admin.contrib.sqla import ModelView

from webapp.models import AuditEntry, Booking, DeliveryAttempt, InboundEvent, Notification, Preference
from webapp.web.admin.access import AdminsOnly

# Events, bookings and notifications change only through ingest and the domain's transitions (the
# dashboard's actions); editing them here would skip the compare-and-set rules and the audit log.
READ_ONLY = [
    (Booking, "Bookings"),
    (Notification, "Notifications"),
    (DeliveryAttempt, "Delivery attempts"),
    (InboundEvent, "Inbound events"),
    (Preference, "Preferences"),
    (AuditEntry, "Audit log"),
]


class StaffOnlyIndex(AdminsOnly, AdminIndexView):
    """The admin's home page."""


class ReadOnlyView(AdminsOnly, ModelView):
    """Flask-Admin's stock list and detail pages, with every way to change a row turned off."""

    can_create = can_edit = can_delete = False
    can_view_details = True
    column_display_pk = True
    column_default_sort = ("id", True)
    page_size = 50
