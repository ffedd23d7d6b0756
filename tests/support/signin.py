"""Staff accounts and signed-in clients for the dashboard tests and benchmarks."""

import re

import requests
from flask import g

from webapp.extensions import db
from webapp.models import AuditEntry

PASSWORD = "correct horse battery"


TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path="/login") -> str:
    # pytest-flask keeps one app context for the whole test, so Flask-WTF's per-request cache in g would
    # outlive the request that made it; in production every request starts with an empty g.
    page = fresh_get(client, path).get_data(as_text=True)
    return TOKEN.search(page)[1]


def fresh_get(client, path):
    """GET as a new request would: without the token and account cached in the test's shared g."""
    g.pop("csrf_token", None)
    g.pop("_login_user", None)
    return client.get(path)


def sign_in(client, email, password=PASSWORD, address="127.0.0.1", headers=None):
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": address},
        headers=headers or {},
    )


def actions() -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return [(entry.action, entry.actor, entry.target) for entry in db.session.query(AuditEntry).order_by(AuditEntry.id)]


def signed_in_session(base_url: str, email: str, password: str = PASSWORD) -> requests.Session:
    """A requests session signed in to a running Bellhop, for tests and benchmarks over real HTTP."""
    session = requests.Session()
    page = session.get(f"{base_url}/login", timeout=30).text
    response = session.post(
        f"{base_url}/login",
        data={"email": email, "password": password, "csrf_token": TOKEN.search(page)[1]},
        timeout=30,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.status_code
    return session


def page_token(session: requests.Session, url: str) -> str:
    """The CSRF token of the form on a page, fetched with this session."""
    return TOKEN.search(session.get(url, timeout=30).text)[1]
