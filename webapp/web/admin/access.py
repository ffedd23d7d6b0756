"""Who may open Flask-Admin: signed-in admins; others get the login page or a 403."""

from flask import abort, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from webapp.models import Role
from webapp.web.query_args import whole_number

# Past this, a page number is nonsense, and page x page size would overflow the SQL offset.
MOST_PAGES = 1_000_000


class AdminsOnly:
    """Mixed into every admin view: the same login and role check as the dashboard's."""

    # Flask-WTF's form base, so the admin's forms carry the CSRF token CSRFProtect checks on every POST.
    form_base_class = FlaskForm

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_user.can(Role.ADMIN)

    def _handle_view(self, name, **kwargs):
        """Check access, then the numbers Flask-Admin would hand to SQL unchecked."""
        refused = super()._handle_view(name, **kwargs)
        if refused is None:
            whole_number("page", 0, MOST_PAGES)
            whole_number("id", 1)
        return refused

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        abort(403)
