"""Bulk retry and cancel, and the live status a page polls for."""

import re
import time
from datetime import timedelta
from urllib.parse import quote

from tests.support.factories import booking_payload, envelope, notifications, now, post_and_plan
from tests.support.signin import actions, csrf_token, sign_in
from webapp.extensions import db
from webapp.models import AuditEntry
from webapp.web.blueprints.dashboard import bulk, live


def statuses(rows) -> list[str]:
    db.session.expire_all()
    return [row.status.value for row in rows]


def tick(client, action, ids, back="/dashboard/notifications?type=booking_1h"):
    token = csrf_token(client, "/dashboard/notifications")
    return client.post(
        "/dashboard/notifications/selected",
        data={"csrf_token": token, "action": action, "id": [str(i) for i in ids], "back": back},
    )


def test_operators_cancel_and_retry_the_rows_they_tick(client, accounts):
    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    sign_in(client, "operator@example.com")
    first, second, third = notifications()[:3]
    cancelled = tick(client, "cancel", [first.id, second.id])
    assert cancelled.headers["Location"].startswith("/dashboard/notifications?type=booking_1h&outcome=")
    assert "cancel: 2 of 2 selected rows changed" in client.get(cancelled.headers["Location"]).get_data(as_text=True)
    assert statuses([first, second, third]) == ["cancelled", "cancelled", "pending"]
    retried = tick(client, "retry", [first.id, second.id, third.id])  # the pending one cannot be retried
    assert "retry: 2 of 3 selected rows changed" in client.get(retried.headers["Location"]).get_data(as_text=True)
    assert statuses([first, second, third]) == ["pending"] * 3
    assert first.last_error == "retried by operator@example.com"
    audit = db.session.query(AuditEntry).order_by(AuditEntry.id).all()[-2:]
    assert [(entry.action, entry.rows) for entry in audit] == [("cancel", 2), ("retry", 2)]
    assert audit[1].target == "3 selected notifications"
    assert f"ids {first.id}, {second.id}, {third.id}" in audit[1].detail


def test_the_back_link_never_leaves_the_list(client, accounts):
    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    sign_in(client, "operator@example.com")
    [row] = notifications(type="booking_created")
    for back in ("https://evil.example/dashboard/notifications", "//evil.example/x", "/dashboard/audit"):
        location = tick(client, "cancel", [row.id], back=back).headers["Location"]
        assert location.startswith("/dashboard/notifications?outcome=")


def test_all_matching_shows_the_count_first_then_acts_on_exactly_those(client, accounts):
    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    post_and_plan(client, envelope("booking.created", booking_payload("b-2")))
    sign_in(client, "operator@example.com")
    confirm = client.get("/dashboard/notifications/matching/cancel?booking=b-1&type=booking_1h")
    page = confirm.get_data(as_text=True)
    assert "<strong>2</strong> rows match and can be cancelled" in page
    assert statuses(notifications()) == ["pending"] * len(notifications())  # looking changed nothing
    token = csrf_token(client, "/dashboard/notifications/matching/cancel?booking=b-1&type=booking_1h")
    done = client.post(
        "/dashboard/notifications/matching/cancel",
        data={"csrf_token": token, "booking": "b-1", "type": "booking_1h", "expected": "2"},
    )
    assert "cancel: 2 rows changed" in client.get(done.headers["Location"]).get_data(as_text=True)
    changed = [row for row in notifications() if row.status.value == "cancelled"]
    assert len(changed) == 2 and {row.type.value for row in changed} == {"booking_1h"}
    assert {row.booking.external_id for row in changed} == {"b-1"}
    assert actions()[-1] == ("cancel", "operator@example.com", "all matching: type=booking_1h, booking=b-1")
    assert "<strong>2</strong> rows match and can be retried" in client.get(
        "/dashboard/notifications/matching/retry?type=booking_1h"
    ).get_data(as_text=True)


def test_all_matching_refuses_past_the_cap_and_changes_nothing(client, accounts, monkeypatch):
    monkeypatch.setattr(bulk, "BULK_CAP", 3)
    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    sign_in(client, "operator@example.com")
    page = client.get("/dashboard/notifications/matching/cancel").get_data(as_text=True)
    assert "More than 3 rows match" in page and '<form method="post">' not in page
    token = csrf_token(client, "/dashboard/notifications")
    refused = client.post("/dashboard/notifications/matching/cancel", data={"csrf_token": token})
    assert refused.status_code == 400 and "narrow it first" in refused.get_data(as_text=True)
    assert set(statuses(notifications())) == {"pending"}
    assert [action for action, _, _ in actions()] == ["login"]


def test_bulk_actions_need_an_operator_and_the_csrf_token(client, accounts):
    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    ids = [str(row.id) for row in notifications()]
    sign_in(client, "viewer@example.com")
    assert "Cancel selected" not in client.get("/dashboard/notifications").get_data(as_text=True)
    token = csrf_token(client, "/dashboard/notifications")
    assert (
        client.post(
            "/dashboard/notifications/selected", data={"csrf_token": token, "action": "cancel", "id": ids}
        ).status_code
        == 403
    )
    assert client.get("/dashboard/notifications/matching/cancel").status_code == 403
    assert client.post("/dashboard/notifications/matching/cancel", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    sign_in(client, "operator@example.com")
    assert client.post("/dashboard/notifications/selected", data={"action": "cancel", "id": ids}).status_code == 400
    assert client.post("/dashboard/notifications/matching/cancel", data={}).status_code == 400
    token = csrf_token(client, "/dashboard/notifications")
    huge = ["99999999999999999999", "-1", "0", "9" * 5_000]  # past 4,300 digits Python will not read a number
    for bad in (
        {"action": "delete", "id": ids},
        {"action": "cancel"},
        {"action": "cancel", "id": ["x"]},
        *({"action": "cancel", "id": [value]} for value in huge),
    ):
        assert client.post("/dashboard/notifications/selected", data={"csrf_token": token, **bad}).status_code == 400
    assert set(statuses(notifications())) == {"pending"}


def live_since(page: str) -> str:
    return re.search(r'data-live-since="([^"]+)"', page)[1]


def test_live_status_reports_only_rows_changed_since_the_cursor(client, accounts, monkeypatch):
    monkeypatch.setattr(live, "CLOCK_SLACK", live.timedelta(0))
    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    sign_in(client, "operator@example.com")
    page = client.get("/dashboard/notifications").get_data(as_text=True)
    ids = re.findall(r'data-live-id="(\d+)"', page)
    assert len(ids) == len(notifications()) and 'data-field="status"' in page
    ask = f"/dashboard/live/notifications?ids={','.join(ids)}&since={quote(live_since(page))}"
    quiet = client.get(ask).get_json()
    assert quiet["rows"] == []  # nothing changed since the page was drawn
    tick(client, "cancel", [int(ids[0])])
    answer = client.get(f"/dashboard/live/notifications?ids={','.join(ids)}&since={quote(quiet['since'])}").get_json()
    assert answer["rows"] == [
        {
            "id": int(ids[0]),
            "status": "cancelled",
            "attempts": 0,
            "sent_at": "",
            "last_error": "cancelled by operator@example.com",
        }
    ]
    later = client.get(f"/dashboard/live/notifications?ids={','.join(ids)}&since={quote(answer['since'])}").get_json()
    assert later["rows"] == []


def test_live_status_refuses_bad_input_and_anonymous_users(client, accounts):
    assert client.get("/dashboard/live/notifications?ids=1&since=2026-01-01T00:00:00+00:00").status_code == 302
    assert client.get("/dashboard/live/overview").status_code == 302
    sign_in(client, "viewer@example.com")
    since = "2026-01-01T00:00:00%2B00:00"
    for query, problem in (
        (f"ids=&since={since}", "ids:"),
        (f"ids=1,x&since={since}", "ids:"),
        (f"ids={','.join(['1'] * 201)}&since={since}", "ids:"),
        ("ids=1&since=yesterday", "since:"),
        ("ids=1&since=2026-01-01T00:00:00", "UTC offset"),
        (f"ids=99999999999999999999&since={since}", "ids:"),
        ("ids=1&since=0001-01-01T00:00:00%2B00:00", "since:"),
        ("ids=1&since=9999-12-31T23:59:59%2B00:00", "since:"),
    ):
        response = client.get(f"/dashboard/live/notifications?{query}")
        assert response.status_code == 400 and problem in response.get_data(as_text=True), query


def test_detail_and_timeline_pages_carry_their_rows_for_live_updates(client, accounts):
    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    sign_in(client, "viewer@example.com")
    row = notifications()[0]
    detail = client.get(f"/dashboard/notifications/{row.id}").get_data(as_text=True)
    assert f'data-live-id="{row.id}"' in detail and "/dashboard/live/notifications" in detail
    timeline = client.get("/dashboard/bookings/b-1").get_data(as_text=True)
    assert timeline.count("data-live-id=") == len(notifications()) and live_since(timeline)
    assert "/static/live.js" in timeline and "/static/dashboard.css" in timeline
    assert client.get("/static/live.js").status_code == 200


def test_open_overviews_share_one_computation_a_second(client, accounts):
    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    sign_in(client, "viewer@example.com")
    first = client.get("/dashboard/live/overview").get_data(as_text=True)
    assert 'badge-pending">pending</span>' in first and "Figures as of" in first
    post_and_plan(client, envelope("booking.created", booking_payload("b-2")))
    assert client.get("/dashboard/live/overview").get_data(as_text=True) == first  # within the second: shared
    time.sleep(1.0)
    assert client.get("/dashboard/live/overview").get_data(as_text=True) != first


def test_the_audit_log_is_append_only(client, accounts):
    import pytest

    from webapp.models.staff import AppendOnly

    sign_in(client, "viewer@example.com")
    entry = db.session.query(AuditEntry).one()
    entry.rows = 99
    with pytest.raises(AppendOnly):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.query(AuditEntry).one())
    with pytest.raises(AppendOnly):
        db.session.commit()
    db.session.rollback()
    assert [(row.action, row.rows) for row in db.session.query(AuditEntry)] == [("login", 0)]


def scheduled_order(client, path) -> list[int]:
    """Every notification id the list shows, following its next-page links."""
    ids = []
    while path:
        page = client.get(path).get_data(as_text=True)
        ids += [int(found) for found in re.findall(r'data-live-id="(\d+)"', page)]
        link = re.search(r'href="(/dashboard/notifications\?[^"]*before=\d+[^"]*)">(?:Earlier|Later)<', page)
        path = link[1].replace("&amp;", "&") if link else None
    return ids


def test_the_list_sorts_by_scheduled_time_and_pages_through_ties(client, accounts):
    import webapp.web.blueprints.dashboard.paging as paging

    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    post_and_plan(client, envelope("booking.created", booking_payload("b-2", start=now() + timedelta(days=1, hours=3))))
    rows = notifications()
    latest_first = [row.id for row in sorted(rows, key=lambda row: (row.scheduled_at, row.id), reverse=True)]
    sign_in(client, "viewer@example.com")
    paging.PAGE_SIZE = 3  # client and expert share each time: ties fall across page edges
    try:
        assert scheduled_order(client, "/dashboard/notifications") == latest_first
        assert scheduled_order(client, "/dashboard/notifications?sort=scheduled") == latest_first[::-1]
        assert scheduled_order(client, "/dashboard/notifications?sort=scheduled&channel=log") == latest_first[::-1]
    finally:
        paging.PAGE_SIZE = 50
    assert client.get("/dashboard/notifications?sort=status").status_code == 400
