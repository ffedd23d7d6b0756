"""Staff sign-in: roles checked on the server, CSRF on every form, throttled failures, an audit trail."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from prometheus_client import REGISTRY

from tests.support.factories import row_counts
from tests.support.processes import process_env, web
from tests.support.redirects import OFF_SITE
from tests.support.signin import PASSWORD, actions, csrf_token, page_token, sign_in


def test_every_dashboard_page_needs_a_login(client):
    for path in ("/dashboard/", "/dashboard/templates", "/dashboard/templates/en/booking_24h/sms"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get("/health").status_code == 200  # health stays open


def test_sign_in_renews_the_session_and_records_it(client, accounts):
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    response = sign_in(client, "viewer@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard/"
    with client.session_transaction() as session:
        assert "planted" not in session  # nothing set before sign-in survives it
    assert client.get("/dashboard/").status_code == 200
    assert actions()[-1] == ("login", "viewer@example.com", "viewer@example.com")


def test_session_cookie_is_httponly_and_samesite_lax(client, accounts):
    cookie = sign_in(client, "viewer@example.com").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_post_without_the_csrf_token_is_refused(client, accounts):
    response = client.post("/login", data={"email": "viewer@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/dashboard/").status_code == 302  # not signed in


def test_an_attackers_failures_hold_only_that_address_not_the_owner(app, client, accounts, caplog):
    app.config["LOGIN_MAX_FAILURES"] = 3
    for _ in range(3):
        assert sign_in(client, "viewer@example.com", "wrong password!", "203.0.113.66").status_code == 401
    held = sign_in(client, "viewer@example.com", address="203.0.113.66")  # even the right password waits
    assert held.status_code == 429 and 0 < int(held.headers["Retry-After"]) <= 900
    assert "Too many failed attempts. Try again in 15 minutes." in held.get_data(as_text=True)
    assert sign_in(client, "viewer@example.com", address="10.0.0.9").status_code == 302  # the owner, elsewhere
    assert [action for action, _, _ in actions()] == ["login_failed"] * 3 + ["login_throttled", "login"]
    assert "sign-in to viewer@example.com from 203.0.113.66 held" in caplog.text


def test_a_client_hammering_while_held_writes_one_audit_row_and_one_warning(app, client, accounts, caplog):
    app.config["LOGIN_MAX_FAILURES"] = 3
    before = REGISTRY.get_sample_value("bellhop_sign_ins_held_total", {"counter": "pair"}) or 0
    for _ in range(3):
        assert sign_in(client, "viewer@example.com", "wrong password!", "203.0.113.66").status_code == 401
    for _ in range(40):
        assert sign_in(client, "viewer@example.com", "wrong password!", "203.0.113.66").status_code == 429
    assert [action for action, _, _ in actions()] == ["login_failed"] * 3 + ["login_throttled"]
    assert caplog.text.count("sign-in to viewer@example.com from 203.0.113.66 held") == 1
    assert REGISTRY.get_sample_value("bellhop_sign_ins_held_total", {"counter": "pair"}) == before + 40


def test_guesses_made_at_once_on_several_web_workers_stay_within_the_limit(accounts, database_url, redis_url, tmp_path):
    env = {**process_env(database_url, redis_url), "BELLHOP_LOGIN_MAX_FAILURES": "3"}
    with web(env, tmp_path / "web.log", workers=4) as base:
        guessers = [requests.Session() for _ in range(24)]
        tokens = [page_token(guesser, f"{base}/login") for guesser in guessers]

        def guess(n: int) -> int:
            form = {"email": "viewer@example.com", "password": f"guess number {n}", "csrf_token": tokens[n]}
            return guessers[n].post(f"{base}/login", data=form, timeout=60, allow_redirects=False).status_code

        with ThreadPoolExecutor(len(guessers)) as pool:
            answers = list(pool.map(guess, range(len(guessers))))
    assert sorted(answers) == [401] * 3 + [429] * 21  # three passwords checked, however many arrived together


def test_with_redis_away_each_web_process_still_holds_a_guesser(app, client, accounts, caplog):
    app.config.update(LOGIN_MAX_FAILURES=3, REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    app.extensions.pop("bellhop_redis", None)
    for _ in range(3):
        assert sign_in(client, "viewer@example.com", "wrong password!", "203.0.113.66").status_code == 401
    assert sign_in(client, "viewer@example.com", "wrong password!", "203.0.113.66").status_code == 429
    assert sign_in(client, "viewer@example.com", address="10.0.0.9").status_code == 302  # the owner, elsewhere
    assert "this process's own counts apply" in caplog.text


def test_failed_logins_are_throttled_per_address_across_accounts(app, client, accounts):
    app.config["LOGIN_ADDRESS_MAX_FAILURES"] = 3
    for n in range(3):
        assert sign_in(client, f"nobody{n}@example.com", "guess", "10.0.0.1").status_code == 401
    assert sign_in(client, "admin@example.com", address="10.0.0.1").status_code == 429
    assert sign_in(client, "admin@example.com", address="10.0.0.2").status_code == 302


def test_guessing_from_many_addresses_slows_down_but_never_locks_the_owner_out(app, client, accounts):
    from webapp.plumbing import queueing

    app.config.update(LOGIN_ACCOUNT_FREE_FAILURES=3, LOGIN_MAX_DELAY_SECONDS=8)
    assert sign_in(app.test_client(), "admin@example.com", address="10.1.1.1").status_code == 302  # her usual one
    redis, last = queueing.redis_connection(), "bellhop:login-failures:account-last:admin@example.com"
    addresses = (f"198.51.100.{n}" for n in range(100))  # a fresh address for every guess
    waits = []
    for _ in range(3):
        assert sign_in(client, "admin@example.com", "guess", next(addresses)).status_code == 401
    for _ in range(5):
        held = sign_in(client, "admin@example.com", "guess", next(addresses))
        assert held.status_code == 429
        waits.append(int(held.headers["Retry-After"]))
        assert sign_in(app.test_client(), "admin@example.com", address="10.1.1.1").status_code == 302  # the owner
        redis.set(last, float(redis.get(last)) - waits[-1])  # the wait goes by
        assert sign_in(client, "admin@example.com", "guess", next(addresses)).status_code == 401
    assert waits == [1, 2, 4, 8, 8]  # doubling, up to the ceiling


def test_unknown_and_wrong_password_get_the_same_answer(client, accounts):
    unknown = sign_in(client, "nobody@example.com")
    wrong = sign_in(client, "viewer@example.com", "not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert b"Wrong email or password." in unknown.data and b"Wrong email or password." in wrong.data


def test_sign_out_needs_a_post_and_is_recorded(client, accounts):
    sign_in(client, "viewer@example.com")
    assert client.get("/logout").status_code == 405
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    assert client.get("/dashboard/").status_code == 302
    assert actions()[-1][0] == "logout"


def test_staff_create_command(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["staff", "create", "Ops@Example.com", "--role", "admin"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert "created ops@example.com (admin)" in result.output
    assert actions()[-1] == ("staff_created", "command line", "ops@example.com (admin)")
    again = runner.invoke(args=["staff", "create", "ops@example.com"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert again.exit_code == 1 and "already has an account" in again.output
    short = runner.invoke(args=["staff", "create", "x@example.com", "--password", "short"])
    assert short.exit_code == 1 and "at least 12 characters" in short.output


def test_demo_load_prints_an_admin_login_that_opens_the_dashboard(app, client, monkeypatch):
    monkeypatch.setenv("BELLHOP_DEMO_ADMIN_PASSWORD", "demo-password-123")
    runner = app.test_cli_runner()
    for _ in range(2):  # a second run (another `make run`) resets the same account, not a duplicate
        result = runner.invoke(args=["demo", "load"])
        assert result.exit_code == 0, result.output
        assert "dashboard login: demo-admin@example.com / demo-password-123" in result.output
    assert sign_in(client, "demo-admin@example.com", "demo-password-123").headers["Location"] == "/dashboard/"
    assert client.get("/dashboard/audit").status_code == 200  # an admin page
    monkeypatch.setenv("BELLHOP_DEMO_ADMIN_PASSWORD", "short")
    refused = runner.invoke(args=["demo", "load"])
    assert refused.exit_code == 1 and "BELLHOP_DEMO_ADMIN_PASSWORD: the password needs at least 12" in refused.output


def test_demo_load_refuses_to_run_in_production(app, monkeypatch):
    monkeypatch.setenv("BELLHOP_DEMO_ADMIN_PASSWORD", "demo-password-123")
    app.config["BELLHOP_ENV"] = "production"
    before = row_counts()
    refused = app.test_cli_runner().invoke(args=["demo", "load"])
    assert refused.exit_code == 1 and "BELLHOP_ENV is production, nothing was loaded" in refused.output
    assert row_counts() == before  # no booking, event or admin account


def browser_target(location: str) -> tuple[str, str, str]:
    """Where a browser goes for a Location: scheme, host and path after the WHATWG URL parser's clean-up."""
    from urllib.parse import urlsplit

    cleaned = "".join(c for c in location if c not in "\t\n\r").strip("".join(map(chr, range(0x21))))
    parts = urlsplit(cleaned.replace("\\", "/"))
    return parts.scheme, parts.netloc, parts.path


@pytest.mark.parametrize("target", OFF_SITE)
def test_sign_in_never_redirects_off_the_site(client, accounts, target):
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "viewer@example.com", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    scheme, host, path = browser_target(location)
    assert (scheme, host) == ("", "") and path.startswith("/") and not path.startswith("//"), location
    assert not any(character in location for character in "\r\n\x00")  # no header of the attacker's making


def test_sign_in_follows_a_path_on_the_site(client, accounts):
    response = client.post(
        "/login",
        query_string={"next": "/dashboard/notifications?status=failed"},
        data={"email": "viewer@example.com", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.headers["Location"] == "/dashboard/notifications?status=failed"


@pytest.mark.parametrize(
    "header", [{"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "https://evil.example/page"}]
)
def test_a_post_from_another_site_is_refused_even_with_a_valid_token(client, accounts, header):
    sign_in(client, "viewer@example.com")
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/")}, headers=header)
    assert response.status_code == 403
    assert client.get("/dashboard/").status_code == 200  # still signed in: the sign-out did not happen


def test_a_post_from_this_site_or_naming_none_goes_through(client, accounts):
    for header in ({"Origin": "http://localhost"}, {"Referer": "http://localhost/dashboard/"}, {}):
        sign_in(client, "viewer@example.com")
        response = client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/")}, headers=header)
        assert response.status_code == 302, header


def test_the_root_sends_a_browser_to_the_dashboard_and_tells_other_clients_the_endpoints(client):
    browser = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 302 and browser.headers["Location"] == "/dashboard/"
    assert client.get(browser.headers["Location"]).headers["Location"].startswith("/login")  # then to sign in
    api = client.get("/", headers={"Accept": "application/json"})
    assert api.status_code == 200 and api.get_json()["webhook"] == "/webhooks/events"
