"""The inbound events page, the admin replay of an event, and the audit page."""

from tests.support.signin import actions, csrf_token, sign_in
from webapp.extensions import db


def test_inbound_events_page_shows_source_outcome_and_payload(client, accounts):
    from tests.support.factories import booking_payload, envelope, post

    post(client, envelope("booking.created", booking_payload("b-9")))
    post(client, envelope("booking.cancelled", {"booking_id": "b-9"}))
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/events").get_data(as_text=True)
    assert page.count("booking.created") >= 1 and "booking.cancelled" in page and "webhook" in page
    assert "&#34;booking_id&#34;: &#34;b-9&#34;" in page or '"booking_id": "b-9"' in page
    assert "Replay</button>" not in page  # viewers cannot replay
    only_cancels = client.get("/dashboard/events?type=booking.cancelled").get_data(as_text=True)
    assert "booking.created" not in only_cancels.split("<table>")[1]


def test_admins_replay_an_event_through_the_idempotent_ingest(app, client, accounts):
    from tests.support.factories import envelope, notifications, post
    from webapp.models import InboundEvent

    app.config["CHANNELS"] = ["log"]
    post(client, envelope("user.welcome", {"user_id": "u-1", "email": "u1@example.com"}))
    app.config["CHANNELS"] = ["log", "email"]  # email was turned on since the event arrived
    [original] = db.session.query(InboundEvent).all()
    sign_in(client, "admin@example.com")
    token = csrf_token(client, "/dashboard/events")
    response = client.post(f"/dashboard/events/{original.id}/replay", data={"csrf_token": token})
    assert response.status_code == 302 and "replayed" in response.headers["Location"]
    ids = sorted(event.event_id for event in db.session.query(InboundEvent))
    assert ids == [original.event_id, f"{original.event_id}:replay:1"]
    # The replay adds only what is missing: the email. The log message is not sent twice.
    assert sorted(row.channel for row in notifications()) == ["email", "log"]
    assert actions()[-1][:2] == ("replay", "admin@example.com")


def test_operators_cannot_replay_and_only_admins_see_the_audit_page(client, accounts):
    from tests.support.factories import envelope, post
    from webapp.models import InboundEvent

    post(client, envelope("user.welcome", {"user_id": "u-1"}))
    [event] = db.session.query(InboundEvent).all()
    sign_in(client, "operator@example.com")
    token = csrf_token(client, "/dashboard/events")
    assert client.post(f"/dashboard/events/{event.id}/replay", data={"csrf_token": token}).status_code == 403
    assert client.get("/dashboard/audit").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    sign_in(client, "admin@example.com")
    page = client.get("/dashboard/audit?action=login").get_data(as_text=True)
    assert "operator@example.com" in page and "admin@example.com" in page and "logout" not in page.split("<table>")[1]
