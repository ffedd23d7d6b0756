"""Staff accounts and signed-in clients for the dashboard tests."""

import re

from flask import g

from webapp.extensions import db
from webapp.models import AuditEntry

PASSWORD = "correct horse battery"


def csrf_token(client, path="/login") -> str:
    # pytest-flask keeps one app context for the whole test, so Flask-WTF's per-request cache in g would
    # outlive the request that made it; in production every request starts with an empty g.
    page = fresh_get(client, path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1]


def fresh_get(client, path):
    """GET as a new request would: without the token and account cached in the test's shared g."""
    g.pop("csrf_token", None)
    g.pop("_login_user", None)
    return client.get(path)


def sign_in(client, email, password=PASSWORD, address="127.0.0.1"):
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": address},
    )


def actions() -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return [(entry.action, entry.actor, entry.target) for entry in db.session.query(AuditEntry).order_by(AuditEntry.id)]
