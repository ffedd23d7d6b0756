"""Recipients in Flask-Admin: contact details staff may correct, checked by the same rules as events'."""

from flask import flash
from flask_admin.contrib.sqla import ModelView

from webapp.domain.people import recipients
from webapp.models import Recipient
from webapp.web.admin.access import AdminsOnly


class RecipientView(AdminsOnly, ModelView):
    """Edit only: recipients come from the platform's events, and removing one would orphan its bookings."""

    can_create = can_delete = False
    can_view_details = True
    column_list = ("external_id", "name", "email", "phone", "timezone", "locale", "quiet_hours", "updated_at")
    column_searchable_list = ("external_id", "name", "email", "phone")
    column_default_sort = ("id", True)
    form_columns = recipients.CONTACT_FIELDS

    def __init__(self, database, **kwargs):
        super().__init__(Recipient, database, **kwargs)

    def update_model(self, form, person):
        """Apply the corrections through recipients.edit and audit which fields changed."""
        try:
            recipients.correct(person, {name: form[name].data for name in recipients.CONTACT_FIELDS})
        except recipients.ContactError as error:
            flash(str(error), "error")
            return False
        return True
