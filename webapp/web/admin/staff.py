"""Staff accounts in Flask-Admin: created and changed through the staff domain, so passwords are hashed,
the last admin cannot be removed, and every change is audited."""

from flask import flash
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectChoice, SelectField
from wtforms.validators import DataRequired, Optional

from webapp.domain.staff import accounts
from webapp.extensions import db
from webapp.models import Role, Staff
from webapp.web.admin.access import AdminsOnly

ROLE_CHOICES = [SelectChoice(role.value) for role in Role]


class NewStaffForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    role = SelectField("Role", choices=ROLE_CHOICES, coerce=Role, default=Role.VIEWER)
    password = PasswordField(
        "Password", validators=[DataRequired()], description=f"At least {accounts.MIN_PASSWORD} characters."
    )


class StaffChangeForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES, coerce=Role)
    active = BooleanField("Active", description="An inactive account cannot sign in; its sessions end.")
    password = PasswordField(
        "New password",
        validators=[Optional()],
        description="Empty keeps the password. A new one ends the account's other sessions.",
    )


class StaffView(AdminsOnly, ModelView):
    """Dashboard accounts. No delete: an account is deactivated, so the audit log's names stay meaningful."""

    can_delete = False
    column_list = ("email", "role", "active", "created_at", "last_login_at")
    column_searchable_list = ("email",)
    column_default_sort = "email"

    def __init__(self, database, **kwargs):
        super().__init__(Staff, database, **kwargs)

    def get_create_form(self):
        return NewStaffForm

    def get_edit_form(self):
        return StaffChangeForm

    def create_model(self, form):
        """Add the account through the staff domain, or say why not."""
        try:
            return accounts.add(form.email.data, form.password.data, form.role.data)
        except accounts.StaffError as error:
            return self.refuse(error)

    def update_model(self, form, account):
        """Change role, lock or password through the staff domain, or say why not."""
        actor = current_user.email  # read first: locking your own account ends the session that names you
        try:
            accounts.change(account, form.role.data, form.active.data, form.password.data or None, actor=actor)
        except accounts.StaffError as error:
            return self.refuse(error)
        return True

    def refuse(self, error: Exception) -> bool:
        """Show the reason on the form and change nothing."""
        db.session.rollback()
        flash(str(error), "error")
        return False
