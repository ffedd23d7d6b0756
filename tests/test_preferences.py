"""Opt-outs by channel and category: signed unsubscribe links, and suppressed messages kept on record."""

import re
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.factories import booking_payload, contact, envelope, notifications, now, post_and_plan
from webapp.domain.people import preferences
from webapp.extensions import db
from webapp.models import NotificationType, Preference, Recipient
from webapp.models.preference import ANY


@pytest.fixture
def config_overrides(smtp):
    return {
        "CHANNELS": ["log", "email"],
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp.port,
        "PUBLIC_URL": "https://bellhop.example.com",
    }


def client_with_email(booking_id="b-1", days=2):
    return booking_payload(
        booking_id,
        start=now() + timedelta(days=days),
        client=contact("client-1", email="ada@example.com"),
        expert=contact("expert-1"),
    )


def unsubscribe_path(message) -> str:
    url = message["List-Unsubscribe"].strip().strip("<>")
    assert url.startswith("https://bellhop.example.com/unsubscribe/")
    return url.removeprefix("https://bellhop.example.com")


def statuses(kind: str) -> dict[str, str]:
    return {
        row.channel: row.status.value for row in notifications(type=kind) if row.recipient.external_id == "client-1"
    }


def accepted_booking(client, run_jobs):
    """A booking the client hears about by email: they get its booking_accepted message."""
    post_and_plan(client, envelope("booking.created", client_with_email()))
    post_and_plan(client, envelope("booking.accepted", {"booking_id": "b-1"}))
    run_jobs()


def test_every_email_carries_a_signed_one_click_unsubscribe_link(client, run_jobs, smtp):
    accepted_booking(client, run_jobs)
    [message] = [m for m in smtp.messages if m["To"].endswith("<ada@example.com>")]
    path = unsubscribe_path(message)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = (part.get_content() for part in message.iter_parts())
    assert path in text and path in html


def test_unsubscribe_asks_first_then_suppresses_planned_and_future_messages(client, run_jobs, smtp):
    accepted_booking(client, run_jobs)
    path = unsubscribe_path(smtp.messages[0])  # the booking_accepted email: category booking updates

    page = client.get(path)
    assert page.status_code == 200 and b"Stop booking updates by email?" in page.data
    assert db.session.query(Preference).count() == 0  # a GET (a mail scanner, say) changes nothing

    done = client.post(path)
    assert done.status_code == 200 and b"You will no longer get booking updates by email" in done.data
    [preference] = db.session.query(Preference).all()
    assert (preference.channel, preference.category, preference.opted_in, preference.source) == (
        "email",
        "booking_updates",
        False,
        "unsubscribe link",
    )

    post_and_plan(client, envelope("booking.cancelled", {"booking_id": "b-1"}))
    cancel = statuses("booking_cancel")
    assert cancel == {"log": "pending", "email": "suppressed"}  # other channels still get it
    [row] = [r for r in notifications(type="booking_cancel", channel="email")]
    assert row.last_error.startswith("suppressed: recipient opted out of booking updates on email (unsubscribe link")


def opt_out_suppressions(client) -> float:
    """bellhop_suppressions_total for email opt-outs, as /metrics serves it."""
    text = client.get("/metrics").get_data(as_text=True)
    wanted = {"channel": "email", "stage": "opt_out"}
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "bellhop_suppressions_total" and sample.labels == wanted
    )


def test_opting_out_of_reminders_suppresses_those_already_planned(client, smtp):
    post_and_plan(client, envelope("booking.created", client_with_email()))
    recipient = db.session.query(Recipient).filter_by(external_id="client-1").one()
    from webapp.domain.people import unsubscribe_links

    with client.application.test_request_context():
        token = unsubscribe_links.token(recipient.id, "email", "reminders")
    counted = opt_out_suppressions(client)
    assert client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    for kind in ("booking_24h", "booking_1h", "booking_start", "booking_end"):
        assert statuses(kind) == {"log": "pending", "email": "suppressed"}, kind
    assert opt_out_suppressions(client) == counted + 4  # /metrics counts each one
    assert statuses("booking_accepted") == {}  # not sent yet: the booking is not accepted
    post_and_plan(client, envelope("booking.accepted", {"booking_id": "b-1"}))
    assert statuses("booking_accepted") == {"log": "pending", "email": "pending"}  # another category


def test_a_tampered_or_foreign_link_is_refused_and_changes_nothing(client, smtp, run_jobs):
    accepted_booking(client, run_jobs)
    path = unsubscribe_path(smtp.messages[0])
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for bad in (tampered, "/unsubscribe/not-a-token"):
        assert client.get(bad).status_code == 400
        response = client.post(bad)
        assert response.status_code == 400 and b"not valid" in response.data
    assert db.session.query(Preference).count() == 0
    assert re.search(r"/unsubscribe/[\w.-]+$", path)


@pytest.mark.parametrize(
    "stored, channel, category, suppressed",
    [
        ([], "email", "reminders", False),
        ([(ANY, ANY, False)], "sms", "payments", True),
        ([("email", ANY, False)], "sms", "reminders", False),
        ([(ANY, "reminders", False), ("email", "reminders", True)], "email", "reminders", False),  # specific wins
        ([(ANY, "reminders", False), ("email", "reminders", True)], "sms", "reminders", True),
        ([("email", ANY, False), (ANY, "payments", True)], "email", "payments", True),  # channel beats category
    ],
)
def test_the_most_specific_preference_decides(stored, channel, category, suppressed):
    found = [
        Preference(channel=c, category=k, opted_in=opted_in, source="test", updated_at=now())
        for c, k, opted_in in stored
    ]
    kind = preferences.CATEGORIES[category][0]
    assert (preferences.suppression(found, channel, kind) is not None) is suppressed


def test_every_type_has_a_category():
    assert set(preferences.CATEGORY_OF) == set(NotificationType)


def test_the_platform_can_opt_a_recipient_out_and_back_in(client):
    def profile(wishes: dict):
        return envelope(
            "user.profile_updated", {"user_id": "client-1", "email": "ada@example.com", "preferences": wishes}
        )

    post_and_plan(client, envelope("booking.created", client_with_email("b-1")))
    post_and_plan(client, profile({"email:reminders": False}))
    assert statuses("booking_24h") == {"log": "pending", "email": "suppressed"}  # already planned: suppressed
    post_and_plan(client, envelope("booking.created", client_with_email("b-2", days=3)))
    later = {
        row.channel: row.status.value
        for row in notifications(type="booking_24h")
        if row.booking.external_id == "b-2" and row.recipient.external_id == "client-1"
    }
    assert later == {"log": "pending", "email": "suppressed"}

    post_and_plan(client, profile({"email:reminders": True}))
    post_and_plan(client, envelope("booking.created", client_with_email("b-3", days=4)))
    again = {
        row.channel: row.status.value
        for row in notifications(type="booking_24h")
        if row.booking.external_id == "b-3" and row.recipient.external_id == "client-1"
    }
    assert again == {"log": "pending", "email": "pending"}
    [preference] = db.session.query(Preference).all()
    assert (preference.opted_in, preference.source) == (True, "platform event")


@pytest.mark.parametrize(
    "wishes, message",
    [
        ({"fax": False}, "'fax' is neither a channel"),
        ({"email:spam": False}, "unknown category 'spam'"),
        ({"pigeon:reminders": False}, "unknown channel 'pigeon'"),
    ],
)
def test_unknown_preference_keys_are_refused_and_change_nothing(client, wishes, message):
    from tests.support.factories import row_counts

    before = row_counts()
    response = post_and_plan(client, envelope("user.profile_updated", {"user_id": "u-1", "preferences": wishes}))
    assert response.status_code == 400
    assert "preferences" in response.get_json()["error"] and message in response.get_json()["error"]
    assert row_counts() == before


@pytest.mark.parametrize(
    "config_overrides",
    [{"CHANNELS": ["email"], "SMTP_HOST": "127.0.0.1", "PUBLIC_URL": f"https://{'notifications-' * 6}example.com/x"}],
)
def test_the_raw_message_has_a_date_and_a_one_click_link_mail_providers_can_read(app, client, run_jobs, smtp):
    app.config["SMTP_PORT"] = smtp.port
    accepted_booking(client, run_jobs)
    [raw] = [raw for raw in smtp.raw if b"ada@example.com" in raw]
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    unfolded = re.sub(r"\r\n[ \t]", " ", head)  # a folded header continues on lines starting with blanks
    headers = {name: value.strip() for name, value in (line.split(":", 1) for line in unfolded.split("\r\n"))}
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", headers["Date"])
    link = headers["List-Unsubscribe"]
    assert re.fullmatch(r"<https://(notifications-){6}example\.com/x/unsubscribe/[\w.-]+>", link), link
    assert len(link) > 78 and "=?" not in head  # long, and still not an encoded word
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["Auto-Submitted"] == "auto-generated"
