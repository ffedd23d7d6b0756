"""Flask-Admin at /admin: staff accounts, recipients, and read-only views of the other tables."""

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from webapp.extensions import db
from webapp.web.admin.recipients import RecipientView
from webapp.web.admin.records import READ_ONLY, ReadOnlyView, StaffOnlyIndex
from webapp.web.admin.staff import StaffView
from webapp.web.security_headers import csp_nonce


def init_app(app: Flask) -> None:
    """Mount the admin on this app; each app gets its own Admin, since Flask-Admin keeps the app it serves."""
    admin = Admin(
        app,
        name="Bellhop admin",
        url="/admin",
        theme=Bootstrap4Theme(base_template="admin/bellhop.html", fluid=True),
        index_view=StaffOnlyIndex(url="/admin", endpoint="admin"),
        csp_nonce_generator=csp_nonce,
    )
    admin.add_view(StaffView(db, name="Staff", endpoint="admin_staff"))
    admin.add_view(RecipientView(db, name="Recipients", endpoint="admin_recipients"))
    for model, name in READ_ONLY:
        admin.add_view(ReadOnlyView(model, db, name=name, endpoint=f"admin_{model.__tablename__}", category="Records"))
