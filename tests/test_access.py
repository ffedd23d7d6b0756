"""Every URL the app serves, walked from its URL map: anonymous users go to login, viewers cannot change anything."""

import pytest

from tests.support.signin import csrf_token, fresh_get, sign_in

# Endpoints that are open by design: signed by their own scheme, or needed to sign in. /metrics has its own
# guard, by network or bearer token (tests/test_metrics.py); the test client calls from loopback, which it allows.
OPEN = {
    "prometheus.scrape",
    "health.index",
    "health.health",
    "health.healthz",
    "health.readyz",
    "auth.login",
    "static",
    "admin.static",
    "webhooks.receive_event",
    "provider_hooks.twilio_status_callback",
    "provider_hooks.twilio_inbound",
    "provider_hooks.email_bounce",
    "unsubscribe.confirm",
    "unsubscribe.unsubscribe_now",
}
# What a viewer may POST: signing out.
VIEWER_POSTS = {"auth.logout"}
SAMPLE_ARGUMENTS = {
    "external_id": "b-1",
    "notification_id": 1,
    "event_row_id": 1,
    "action": "retry",
    "locale": "en",
    "kind": "booking_24h",
    "channel": "log",
    "export_type": "csv",
    "suppression_id": 1,
}


def guarded_routes(app, method: str) -> list[tuple[str, str]]:
    """(endpoint, path) of every rule answering method that is not open by design."""
    routes = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if method in rule.methods and rule.endpoint not in OPEN:
                arguments = {name: SAMPLE_ARGUMENTS[name] for name in rule.arguments}
                routes.append((rule.endpoint, url_for(rule.endpoint, **arguments)))
    return sorted(routes)


def test_the_crawl_covers_the_dashboard_and_the_admin(app):
    endpoints = {endpoint for endpoint, _ in guarded_routes(app, "GET") + guarded_routes(app, "POST")}
    assert {"dashboard.home", "dashboard.act_on_matching", "admin.index", "admin_staff.create_view"} <= endpoints
    assert len(endpoints) > 60


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_guarded_url_sends_an_anonymous_user_to_login(app, client, method):
    token = csrf_token(client)  # a valid token, so the refusal is the login check and not CSRF
    for endpoint, path in guarded_routes(app, method):
        response = client.open(path, method=method, data={"csrf_token": token} if method == "POST" else None)
        assert response.status_code == 302, (endpoint, response.status_code)
        assert response.headers["Location"].startswith("/login"), endpoint


def test_a_viewer_cannot_post_anywhere_but_sign_out(app, client, accounts):
    sign_in(client, "viewer@example.com")
    token = csrf_token(client, "/dashboard/")
    for endpoint, path in guarded_routes(app, "POST"):
        if endpoint in VIEWER_POSTS:
            continue
        fresh_get(client, "/dashboard/")  # a fresh request state, as each real request has
        response = client.post(path, data={"csrf_token": token})
        assert response.status_code == 403, (endpoint, response.status_code)


def test_a_viewer_cannot_open_admin_pages(app, client, accounts):
    sign_in(client, "viewer@example.com")
    for endpoint, path in guarded_routes(app, "GET"):
        if endpoint.startswith("admin") or endpoint == "dashboard.audit":
            assert fresh_get(client, path).status_code == 403, endpoint
