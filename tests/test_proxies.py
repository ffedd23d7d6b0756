"""Behind a proxy: the client's own address reaches the login throttle and the audit log, and only then."""

import pytest
import requests

from tests.support.processes import process_env, web
from tests.support.signin import sign_in
from webapp.extensions import db
from webapp.models import AuditEntry

ROUTER = "10.0.0.1"


def via_router(client, email: str, client_address: str, forged: str = ""):
    """A failed sign-in that reached Bellhop through the router, which appended the client's address."""
    forwarded_for = f"{forged}, {client_address}" if forged else client_address
    # Over HTTPS Flask-WTF also wants the browser's Referer to name this site.
    headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https", "Referer": "https://localhost/login"}
    return sign_in(client, email, "wrong password!", ROUTER, headers)


def audited_addresses() -> list[str]:
    db.session.expire_all()
    return [entry.address for entry in db.session.query(AuditEntry).order_by(AuditEntry.id)]


def test_with_no_trusted_proxy_forwarding_headers_are_ignored(app, client, accounts):
    app.config["LOGIN_ADDRESS_MAX_FAILURES"] = 3
    for n in range(3):  # a client making up a new address for every guess
        assert via_router(client, f"nobody{n}@example.com", f"203.0.113.{n}").status_code == 401
    assert via_router(client, "admin@example.com", "203.0.113.9").status_code == 429
    assert set(audited_addresses()) == {ROUTER}


@pytest.mark.parametrize("config_overrides", [{"PROXY_HOPS": 1}])
def test_behind_a_trusted_proxy_each_client_is_seen_by_its_own_address(app, client, accounts):
    app.config["LOGIN_ADDRESS_MAX_FAILURES"] = 3
    for n in range(3):  # the client forges a leftmost entry; the router's own entry is the one trusted
        assert via_router(client, f"nobody{n}@example.com", "203.0.113.7", forged=f"198.51.100.{n}").status_code == 401
    assert via_router(client, "admin@example.com", "203.0.113.7").status_code == 429
    assert via_router(client, "admin@example.com", "203.0.113.8").status_code == 401  # another client
    assert audited_addresses() == ["203.0.113.7"] * 4 + ["203.0.113.8"]


def test_only_bellhop_proxy_hops_lets_a_forwarded_scheme_through_gunicorn(database_url, redis_url, tmp_path):
    """gunicorn by itself believes X-Forwarded-Proto from any client on its machine; Bellhop's web does not."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on", "X-Forwarded-Protocol": "ssl"}
    seen_as_https = {}
    for hops in (0, 1):
        env = {**process_env(database_url, redis_url), "BELLHOP_PROXY_HOPS": str(hops)}
        with web(env, tmp_path / f"web-{hops}.log", workers=1) as base:
            answer = requests.get(f"{base}/healthz", headers=forwarded, timeout=30)
        assert answer.status_code == 200
        seen_as_https[hops] = "Strict-Transport-Security" in answer.headers  # sent only over HTTPS
    assert seen_as_https == {0: False, 1: True}
