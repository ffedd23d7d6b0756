"""The inbound events page, the admin replay of an event, and the audit page."""

from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tests.support.signin import actions, csrf_token, sign_in
from webapp.extensions import db


def test_inbound_events_page_shows_source_outcome_and_payload(client, accounts):
    from tests.support.factories import booking_payload, envelope, post_and_plan

    post_and_plan(client, envelope("booking.created", booking_payload("b-9")))
    post_and_plan(client, envelope("booking.cancelled", {"booking_id": "b-9"}))
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/events").get_data(as_text=True)
    assert page.count("booking.created") >= 1 and "booking.cancelled" in page and "webhook" in page
    assert "&#34;booking_id&#34;: &#34;b-9&#34;" in page or '"booking_id": "b-9"' in page
    assert "Replay</button>" not in page  # viewers cannot replay
    only_cancels = client.get("/dashboard/events?type=booking.cancelled").get_data(as_text=True)
    assert "booking.created" not in only_cancels.split("<table>")[1]


def test_admins_replay_an_event_through_the_idempotent_ingest(app, client, accounts):
    from tests.support.factories import envelope, notifications, plan, post_and_plan
    from webapp.models import InboundEvent

    app.config["CHANNELS"] = ["log"]
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "email": "u1@example.com"}))
    app.config["CHANNELS"] = ["log", "email"]  # email was turned on since the event arrived
    [original] = db.session.query(InboundEvent).all()
    sign_in(client, "admin@example.com")
    token = csrf_token(client, "/dashboard/events")
    response = client.post(f"/dashboard/events/{original.id}/replay", data={"csrf_token": token})
    assert response.status_code == 302 and "replayed" in response.headers["Location"]
    assert plan() == 1
    ids = sorted(event.event_id for event in db.session.query(InboundEvent))
    assert ids == [original.event_id, f"{original.event_id}:replay:1"]
    # The replay adds only what is missing: the email. The log message is not sent twice.
    assert sorted(row.channel for row in notifications()) == ["email", "log"]
    assert actions()[-1][:2] == ("replay", "admin@example.com")


@contextmanager
def audit_log_refusing_rows():
    """The database refuses every new audit row (a trigger), as a full disk or a lost connection might."""
    if db.engine.dialect.name == "sqlite":
        create = ["CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'refused'); END"]
        drop = ["DROP TRIGGER refuse_audit"]
    else:
        create = [
            "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ "
            "LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
        ]
        drop = ["DROP TRIGGER refuse_audit ON audit_log", "DROP FUNCTION refuse_audit()"]
    for statement in create:
        db.session.execute(text(statement))
    db.session.commit()
    try:
        yield
    finally:
        db.session.rollback()
        for statement in drop:
            db.session.execute(text(statement))
        db.session.commit()


def test_a_replay_that_cannot_be_audited_leaves_no_event_behind(client):
    from tests.support.factories import envelope, post_and_plan
    from webapp.domain.staff import actions as staff_actions
    from webapp.models import InboundEvent

    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "email": "u1@example.com"}))
    [original] = db.session.query(InboundEvent).all()
    with audit_log_refusing_rows():
        with pytest.raises(SQLAlchemyError):
            staff_actions.replay(original)
        db.session.rollback()
        assert [event.event_id for event in db.session.query(InboundEvent)] == [original.event_id]


def test_operators_cannot_replay_and_only_admins_see_the_audit_page(client, accounts):
    from tests.support.factories import envelope, post_and_plan
    from webapp.models import InboundEvent

    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1"}))
    [event] = db.session.query(InboundEvent).all()
    sign_in(client, "operator@example.com")
    token = csrf_token(client, "/dashboard/events")
    assert client.post(f"/dashboard/events/{event.id}/replay", data={"csrf_token": token}).status_code == 403
    assert client.get("/dashboard/audit").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    sign_in(client, "admin@example.com")
    page = client.get("/dashboard/audit?action=login").get_data(as_text=True)
    assert "operator@example.com" in page and "admin@example.com" in page and "logout" not in page.split("<table>")[1]


def test_admins_replaying_one_event_at_once_each_get_a_replay_id_of_their_own(client, accounts, web_server):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from tests.support.factories import envelope, post_and_plan
    from tests.support.signin import page_token, signed_in_session
    from webapp.models import InboundEvent

    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1"}), event_id="evt-replayed")
    [original] = db.session.query(InboundEvent).all()
    admins = [signed_in_session(web_server, "admin@example.com") for _ in range(CONCURRENT_REPLAYS)]
    tokens = [page_token(session, f"{web_server}/dashboard/events") for session in admins]
    together = threading.Barrier(CONCURRENT_REPLAYS)

    def replay(n: int) -> int:
        together.wait()
        url = f"{web_server}/dashboard/events/{original.id}/replay"
        return admins[n].post(url, data={"csrf_token": tokens[n]}, allow_redirects=False, timeout=30).status_code

    with ThreadPoolExecutor(CONCURRENT_REPLAYS) as pool:
        assert list(pool.map(replay, range(CONCURRENT_REPLAYS))) == [302] * CONCURRENT_REPLAYS
    db.session.expire_all()
    replays = sorted(event.event_id for event in db.session.query(InboundEvent) if event.id != original.id)
    assert replays == sorted(f"evt-replayed:replay:{n}" for n in range(1, CONCURRENT_REPLAYS + 1))
    assert [action for action, _, _ in actions()].count("replay") == CONCURRENT_REPLAYS


CONCURRENT_REPLAYS = 4
