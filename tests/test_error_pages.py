"""Errors for people are pages that say how to go on; programs keep their JSON errors."""

import pytest

from tests.support.signin import csrf_token, fresh_get, sign_in

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def is_page(response) -> bool:
    return response.mimetype == "text/html" and response.get_data(as_text=True).lstrip().startswith("<!doctype html>")


@pytest.fixture
def viewer(client, accounts):
    sign_in(client, "viewer@example.com")
    return client


def test_a_missing_record_is_a_page_that_leads_back(viewer):
    response = viewer.get("/dashboard/notifications/999999")
    page = response.get_data(as_text=True)
    assert response.status_code == 404 and is_page(response)
    assert "Nothing here" in page and 'href="/dashboard/"' in page


def test_a_forbidden_action_is_a_page_naming_the_role(viewer):
    token = csrf_token(viewer, "/dashboard/")
    response = viewer.post("/dashboard/notifications/1/retry", data={"csrf_token": token})
    assert response.status_code == 403 and is_page(response)
    assert "Your role does not include this" in response.get_data(as_text=True)
    admin_page = fresh_get(viewer, "/admin/admin_staff/")
    assert admin_page.status_code == 403 and is_page(admin_page)


def test_a_form_left_open_across_a_new_sign_in_asks_to_reload_or_sign_in_again(viewer, accounts):
    token = csrf_token(viewer, "/dashboard/")  # the page was loaded, then the session changed underneath it
    sign_in(viewer, "operator@example.com")
    response = viewer.post("/dashboard/notifications/1/retry", data={"csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and is_page(response)
    assert "This form has expired" in page and "nothing was changed" in page
    assert 'href="/login?next=/dashboard/notifications/1/retry"' in page


def test_a_bad_query_string_is_a_page_saying_what_was_wrong(viewer):
    response = viewer.get("/dashboard/notifications?sort=sideways")
    assert response.status_code == 400 and is_page(response)
    assert "sort is one of" in response.get_data(as_text=True)


def test_a_browser_gets_a_page_for_an_unknown_address_and_a_program_gets_json(client):
    assert is_page(client.get("/no-such-page", headers=BROWSER))
    assert client.get("/no-such-page").get_json() == {"error": client.get("/no-such-page").get_json()["error"]}


def test_the_webhook_and_the_live_endpoint_keep_json_even_for_a_browser(viewer):
    for response in (
        viewer.get("/webhooks/events", headers=BROWSER),  # 405
        viewer.post("/webhooks/events", data=b"{}", headers={**BROWSER, "Content-Type": "application/json"}),
        viewer.get("/dashboard/live/notifications?ids=x", headers=BROWSER),
        viewer.get("/readyz/nope", headers=BROWSER),
    ):
        assert response.status_code >= 400 and response.mimetype == "application/json", response.request.path
        assert response.get_json()["error"]
