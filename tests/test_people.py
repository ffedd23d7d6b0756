"""A person's page, the search that finds them, and lifting a suppression from the dashboard."""

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from tests.support.factories import booking_payload, contact, envelope, notifications, now, post_and_plan
from tests.support.signin import actions, csrf_token, fresh_get, sign_in
from webapp.domain.after_sending import suppressions
from webapp.extensions import db
from webapp.models import Notification, NotificationStatus, NotificationType, Recipient, Suppression
from webapp.models.types import utcnow

ADA = contact("client-1", name="Ada Lovelace", email="Ada@Example.com", phone="+4915112345678")


@pytest.fixture
def ada(client):
    """Ada, a client with a booking, a preference, and her email on the suppression list."""
    payload = booking_payload(client={**ADA, "preferences": {"sms:reminders": False}, "quiet_hours": "22:00-07:00"})
    assert post_and_plan(client, envelope("booking.created", payload)).status_code == 202
    person = db.session.scalar(select(Recipient).filter_by(external_id="client-1"))
    suppressions.add("email", person.email, "hard bounce: 5.1.1 user unknown", "email report", utcnow(), person.id)
    db.session.commit()
    return person


def page(client, path: str) -> str:
    response = fresh_get(client, path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_a_persons_page_shows_contacts_preferences_suppressions_and_messages(client, accounts, ada):
    sign_in(client, "viewer@example.com")
    html = page(client, "/dashboard/people/client-1")
    for fact in ("Ada Lovelace", "ada@example.com", "+4915112345678", "Europe/Berlin", "22:00-07:00"):
        assert fact in html, fact
    assert "platform event" in html and "reminders" in html  # the preference, with its source
    assert "hard bounce: 5.1.1 user unknown" in html and "email report" in html
    for row in notifications():
        if row.recipient_id == ada.id:
            assert f'/dashboard/notifications/{row.id}"' in html
    assert fresh_get(client, "/dashboard/people/nobody").status_code == 404


def test_a_persons_messages_are_newest_first_and_paged(client, accounts, ada):
    start = now() + timedelta(days=30)
    db.session.execute(
        insert(Notification.__table__),
        [
            {
                "recipient_id": ada.id,
                "type": NotificationType.USER_PROFILE_UPDATED,
                "channel": "log",
                "status": NotificationStatus.SENT,
                "scheduled_at": start + timedelta(minutes=n),
                "due_at": start + timedelta(minutes=n),
                "attempts": 1,
                "dedupe_key": f"paging-{n}",
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
            for n in range(60)
        ],
    )
    db.session.commit()
    sign_in(client, "viewer@example.com")
    first = page(client, "/dashboard/people/client-1")
    ids = [row.id for row in notifications() if row.recipient_id == ada.id]
    newest = max(ids)
    assert first.index(f'/dashboard/notifications/{newest}"') < first.index(f'/dashboard/notifications/{newest - 1}"')
    assert "Earlier" in first
    later = first.split("before=")[1].split('"')[0]
    second = page(client, f"/dashboard/people/client-1?before={later}")
    shown = [n for n in ids if f'/dashboard/notifications/{n}"' in first or f'/dashboard/notifications/{n}"' in second]
    assert sorted(shown) == sorted(ids)


@pytest.mark.parametrize("text", ["lovelace", "ADA@example", "+49151123", "client-1"])
def test_the_search_finds_people_by_name_email_phone_or_platform_id(client, accounts, ada, text):
    sign_in(client, "viewer@example.com")
    html = page(client, f"/dashboard/people?q={text}")
    assert '/dashboard/people/client-1"' in html and "expert-1" not in html


def test_a_search_that_finds_nobody_or_is_too_long_says_so(client, accounts, ada):
    sign_in(client, "viewer@example.com")
    assert "Nobody matches" in page(client, "/dashboard/people?q=zzz")
    for wildcard in ("%25", "_", "a%25e", "client_1"):  # SQL's wildcards match only themselves
        assert "Nobody matches" in page(client, f"/dashboard/people?q={wildcard}"), wildcard
    assert fresh_get(client, "/dashboard/people?q=" + "x" * 201).status_code == 400


def test_every_recipient_name_links_to_their_page(client, accounts, ada):
    sign_in(client, "viewer@example.com")
    [row] = [row for row in notifications(type="booking_24h") if row.recipient_id == ada.id][:1]
    for path in (
        "/dashboard/notifications",
        "/dashboard/bookings",
        "/dashboard/bookings/b-1",
        f"/dashboard/notifications/{row.id}",
    ):
        assert '/dashboard/people/client-1"' in page(client, path), path


def lift(client, suppression_id: int, reason: str = "she fixed her mailbox"):
    token = csrf_token(client, "/dashboard/people/client-1")
    return client.post(
        f"/dashboard/people/client-1/suppressions/{suppression_id}/lift", data={"csrf_token": token, "reason": reason}
    )


def test_an_operator_lifts_a_suppression_with_a_reason_and_it_is_audited(client, accounts, ada):
    listed = db.session.scalar(select(Suppression))
    sign_in(client, "operator@example.com")
    assert lift(client, listed.id).status_code == 302
    assert db.session.scalars(select(Suppression)).all() == []
    [entry] = [entry for entry in actions() if entry[0] == "suppression_lifted"]
    assert entry[1:] == ("operator@example.com", "recipient client-1")


def test_lifting_needs_a_reason_an_operator_and_the_persons_own_suppression(client, accounts, ada):
    listed = db.session.scalar(select(Suppression))
    other = suppressions.add("sms", "+15005550006", "dead", "test", utcnow())
    db.session.commit()
    other_id = db.session.scalar(select(Suppression.id).filter_by(channel="sms"))
    assert other
    sign_in(client, "viewer@example.com")
    assert lift(client, listed.id).status_code == 403
    sign_in(client, "operator@example.com")
    assert lift(client, listed.id, reason="  ").status_code == 400
    assert lift(client, other_id).status_code == 404
    assert len(db.session.scalars(select(Suppression)).all()) == 2
    assert not [entry for entry in actions() if entry[0] == "suppression_lifted"]


def test_the_list_filters_by_delivery_state_and_the_overview_shows_the_rate(client, accounts, ada):
    from sqlalchemy import update

    rows = [row for row in notifications() if row.recipient_id == ada.id][:3]
    for row, state in zip(rows, ("delivered", "delivered", "undelivered"), strict=True):
        db.session.execute(
            update(Notification)
            .where(Notification.id == row.id)
            .values(status=NotificationStatus.SENT, sent_at=utcnow(), delivery_state=state, channel="sms")
        )
    db.session.commit()
    sign_in(client, "viewer@example.com")
    delivered = page(client, "/dashboard/notifications?delivery=delivered")
    assert all(f'/dashboard/notifications/{row.id}"' in delivered for row in rows[:2])
    assert f'/dashboard/notifications/{rows[2].id}"' not in delivered
    assert fresh_get(client, "/dashboard/notifications?delivery=maybe").status_code == 400
    overview = page(client, "/dashboard/live/overview")
    assert "66.7%" in overview
