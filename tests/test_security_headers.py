"""Security headers on every page, and a Content-Security-Policy that the real browser enforces."""

import pytest

from tests.support.browser import csp_violations
from tests.support.signin import sign_in

pytestmark = pytest.mark.xdist_group("chromium")

PAGES = ("/dashboard/", "/dashboard/notifications", "/dashboard/audit", "/admin/", "/admin/admin_staff/", "/login")


def test_every_page_sends_the_security_headers(client, accounts):
    sign_in(client, "admin@example.com")
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy, path
        assert "script-src 'self' 'nonce-" in policy and "object-src 'none'" in policy, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "same-origin", path
        assert response.headers["Cache-Control"] == "no-store", path  # personal data stays out of caches
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP: HSTS would mean nothing
    assert "no-store" not in client.get("/static/dashboard.css").headers.get("Cache-Control", "")


def test_hsts_over_https(client):
    response = client.get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_each_response_gets_its_own_nonce(client):
    first, second = (client.get("/login").headers["Content-Security-Policy"] for _ in range(2))
    assert first != second


def test_pages_have_no_inline_script_or_style(client, accounts):
    sign_in(client, "admin@example.com")
    for path in (*PAGES, "/unsubscribe/not-a-token"):
        page = client.get(path).get_data(as_text=True)
        assert "<style" not in page and " style=" not in page, path
        assert "<script>" not in page and " onclick=" not in page, path


def test_the_browser_reports_what_the_policy_refuses(browser):
    """The guard the browser tests rely on: an inline script is refused and the refusal is seen."""
    browser.get(f"{browser.base_url}/login")
    browser.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.ran = 1';document.body.appendChild(s);"
    )
    assert browser.execute_script("return window.ran") is None  # the policy stopped it
    assert any("script-src" in message for message in csp_violations(browser))
