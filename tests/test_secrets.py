"""What a secret key protects: production will not start without its own, and another key's signatures fail."""

from itsdangerous import URLSafeSerializer

from tests.support.apps import config_for
from tests.support.processes import process_env, start, stop
from tests.support.signin import sign_in
from webapp import create_app
from webapp.domain.people.unsubscribe_links import SALT


def test_production_without_a_secret_key_refuses_to_start(database_url, redis_url, tmp_path):
    env = {**process_env(database_url, redis_url), "BELLHOP_ENV": "production", "PORT": "0"}
    env.pop("SECRET_KEY", None)
    for kind in ("web", "worker"):
        process = start(kind, env, tmp_path / f"{kind}.log")
        try:
            assert process.wait(60) != 0
        finally:
            stop([process])
        assert "SECRET_KEY: unset" in (tmp_path / f"{kind}.log").read_text()


def test_a_session_signed_with_another_key_is_not_a_session(app, client, accounts, database_url, redis_url):
    sign_in(client, "admin@example.com")
    assert client.get("/dashboard/").status_code == 200
    cookie = client.get_cookie("session")
    other = create_app(config_for(database_url, redis_url, SECRET_KEY="another-deployment-entirely-0123456789"))
    stranger = other.test_client()
    stranger.set_cookie("session", cookie.value)
    response = stranger.get("/dashboard/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_an_unsubscribe_link_signed_with_another_key_is_refused(client):
    forged = URLSafeSerializer("another-deployment-entirely-0123456789", salt=SALT).dumps([1, "email", "reminders"])
    for method in (client.get, client.post):
        response = method(f"/unsubscribe/{forged}")
        assert response.status_code == 400
