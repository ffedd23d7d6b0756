"""Every dashboard and admin page, given hostile query values and path variables: a 400 or 404, never a 5xx."""

from urllib.parse import urlencode

import pytest

from tests.support.signin import fresh_get, sign_in

pytestmark = pytest.mark.slow  # about 80 s a database: make test-fast leaves it out

HOSTILE = [
    "99999999999999999999999999",
    "-1",
    "-99999999999999999999",
    "abc",
    "1.5",
    "",
    "%00",
    "\x00",
    "\r\nX-Injected: 1",
    "\x1b[2J",
    "0001-01-01T00:00:00+00:00",
    "9999-12-31T23:59:59+00:00",
    "2026-13-45",
    "nonsense-status",
    "1,2,abc,99999999999999999999999",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "a" * 5000,
]
# Query parameters the pages read, and the usual names a probe would try on top.
PARAMETERS = [
    "before", "since", "ids", "status", "source", "type", "channel", "outcome", "state", "sort", "q", "actor", "for",
    "test", "next", "page", "page_size", "search", "booking", "recipient", "error", "kind", "locale", "flt0_0",
    "sort_desc", "id", "url", "delivery",
]  # fmt: skip


# A valid value for each path variable, so the page itself is reached.
PATH_SAMPLES = {"notification_id": 1, "event_row_id": 1, "action": "retry", "locale": "en", "kind": "booking_24h"}
PATH_SAMPLES |= {"channel": "log", "export_type": "csv", "external_id": "b-1", "id": "1", "token": "x"}


def get_routes(app) -> list[tuple[str, list[str]]]:
    """Each GET rule as a path template and the names of its variables, the static files left out."""
    routes = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and not rule.endpoint.endswith("static"):
            routes.append((rule, sorted(rule.arguments)))
    return routes


@pytest.fixture
def admin_client(client, accounts):
    sign_in(client, "admin@example.com")
    return client


def paths(app) -> list[tuple[str, str]]:
    """(endpoint, path) of every GET page, with sample values for its variables."""
    found = []
    with app.test_request_context():
        from flask import url_for

        for rule, arguments in get_routes(app):
            sample = {name: PATH_SAMPLES.get(name, "x") for name in arguments}
            found.append((rule.endpoint, url_for(rule.endpoint, **sample)))
    return found


def test_hostile_query_values_never_give_a_5xx(app, admin_client):
    failures = []
    for endpoint, path in paths(app):
        for parameter in PARAMETERS:
            for value in HOSTILE:
                response = fresh_get(admin_client, f"{path}?{urlencode({parameter: value})}")
                # /readyz answers 503 by design here: no scheduler or worker runs beside this test.
                if response.status_code >= 500 and (endpoint, response.status_code) != ("health.readyz", 503):
                    failures.append((endpoint, parameter, value[:30], response.status_code))
    assert failures == [], sorted({(endpoint, parameter) for endpoint, parameter, _, _ in failures})


def test_hostile_path_numbers_never_give_a_5xx(app, admin_client):
    failures = []
    for huge in ("99999999999999999999999999", "9223372036854775808", "0"):
        with app.test_request_context():
            from flask import url_for

            targets = [
                (rule.endpoint, url_for(rule.endpoint, **{name: PATH_SAMPLES.get(name, "x") for name in arguments}))
                for rule, arguments in get_routes(app)
                if any(name.endswith("_id") and isinstance(PATH_SAMPLES.get(name), int) for name in arguments)
            ]
        for endpoint, path in targets:
            response = fresh_get(admin_client, path.replace("/1", f"/{huge}", 1))
            if response.status_code >= 500:
                failures.append((endpoint, huge, response.status_code))
    assert failures == []


@pytest.mark.parametrize(
    ("path", "explanation"),
    [
        ("/dashboard/notifications?before=99999999999999999999", "before: must be a whole number"),
        ("/dashboard/notifications?before=" + "9" * 5_000, "before: must be a whole number"),
        ("/dashboard/live/notifications?ids=" + "9" * 5_000, "ids: 1 to"),
        ("/dashboard/events?source=carrier-pigeon", "source: must be one of webhook, amqp, cli"),
        ("/dashboard/bookings?status=maybe", "status: must be one of"),
        ("/admin/admin_staff/?page=99999999999999", "page: must be a whole number from 0 to 1000000"),
    ],
)
def test_a_refused_value_is_named_with_what_is_allowed(admin_client, path, explanation):
    response = fresh_get(admin_client, path)
    assert response.status_code == 400 and explanation in response.get_data(as_text=True)
