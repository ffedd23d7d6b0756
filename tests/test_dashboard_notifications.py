"""The notifications list, one notification, and retrying or cancelling it."""

import math
import re
import time

from tests.support.signin import actions, csrf_token, sign_in
from webapp.extensions import db
from webapp.models import AuditEntry


def row_links(page: str) -> list[str]:
    """The notification ids a list page links to, one per row."""
    return re.findall(r'/dashboard/notifications/(\d+)"', page)


def test_notifications_list_filters_by_status_and_pages_by_id(app, client, accounts):
    from tests.support.factories import envelope, post_and_plan

    for n in range(3):
        post_and_plan(client, envelope("user.welcome", {"user_id": f"u-{n}", "preferences": {"account": n != 1}}))
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/notifications?status=suppressed").get_data(as_text=True)
    assert len(row_links(page)) == 1 and "suppressed: recipient opted out of account messages" in page
    import webapp.web.blueprints.dashboard.paging as dashboard

    dashboard.PAGE_SIZE = 2
    try:
        first = client.get("/dashboard/notifications").get_data(as_text=True)
        older = re.search(r'href="(/dashboard/notifications\?before=\d+)"', first)[1]  # no empty filters
        second = client.get(older).get_data(as_text=True)
    finally:
        dashboard.PAGE_SIZE = 50
    assert len(row_links(first)) == 2 and len(row_links(second)) == 1 and "Earlier" not in second
    assert client.get("/dashboard/notifications?status=lost").status_code == 400


def test_notification_detail_says_why_and_shows_every_attempt(app, client, accounts, run_jobs, telegram):
    from datetime import timedelta

    from tests.support.factories import envelope, notifications, now, post_and_plan

    app.config.update(CHANNELS=["telegram"], TELEGRAM_BASE_URL=telegram.url, TELEGRAM_BOT_TOKEN=telegram.TOKEN)
    window = f"{now() - timedelta(hours=1):%H:%M}-{now() + timedelta(hours=2):%H:%M}"
    post_and_plan(
        client,
        envelope("user.welcome", {"user_id": "u-1", "telegram_chat_id": "1", "timezone": "UTC", "quiet_hours": window}),
    )
    telegram.error(403, "Forbidden: bot was blocked by the user")
    post_and_plan(client, envelope("user.profile_updated", {"user_id": "u-2", "telegram_chat_id": "2"}))
    run_jobs()
    deferred, failed = notifications()
    sign_in(client, "viewer@example.com")
    page = client.get(f"/dashboard/notifications/{deferred.id}").get_data(as_text=True)
    assert "deferred from" in page and "No attempt yet." in page
    page = client.get(f"/dashboard/notifications/{failed.id}").get_data(as_text=True)
    assert "permanent: Telegram 403: Forbidden: bot was blocked by the user" in page
    assert "permanent_error" in page
    assert client.get("/dashboard/notifications/999999").status_code == 404


def act(client, notification_id: int, action: str, with_token: bool = True):
    token = csrf_token(client, f"/dashboard/notifications/{notification_id}") if with_token else ""
    return client.post(f"/dashboard/notifications/{notification_id}/{action}", data={"csrf_token": token})


def test_an_operator_retries_a_failed_message_and_it_is_sent(app, client, accounts, run_jobs, telegram):
    from tests.support.factories import envelope, notifications, post_and_plan

    app.config.update(CHANNELS=["telegram"], TELEGRAM_BASE_URL=telegram.url, TELEGRAM_BOT_TOKEN=telegram.TOKEN)
    telegram.error(400, "Bad Request: message text is empty")
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "telegram_chat_id": "1"}))
    run_jobs()
    [row] = notifications()
    assert row.status.value == "failed"
    sign_in(client, "operator@example.com")
    response = act(client, row.id, "retry")
    assert "outcome=done" in response.headers["Location"]
    time.sleep(math.ceil(time.time()) - time.time() + 0.3)  # the retry's wake-up is for the coming second
    run_jobs()
    [row] = notifications()
    assert row.status.value == "sent" and row.attempts == 2 and len(telegram.requests) == 2
    assert actions()[-1] == ("retry", "operator@example.com", f"notification {row.id}")


def test_an_operator_cancels_a_planned_reminder_and_it_is_never_sent(client, accounts):
    from tests.support.factories import booking_payload, envelope, notifications, post_and_plan

    post_and_plan(client, envelope("booking.created", booking_payload()))
    [reminder, *_] = notifications(type="booking_24h")
    sign_in(client, "operator@example.com")
    act(client, reminder.id, "cancel")
    [reminder] = [row for row in notifications(type="booking_24h") if row.id == reminder.id]
    assert reminder.status.value == "cancelled" and reminder.last_error == "cancelled by operator@example.com"
    # A second click finds nothing to do: the compare-and-set only moves rows still in the right status.
    again = act(client, reminder.id, "cancel")
    assert "nothing to do" in client.get(again.headers["Location"]).get_data(as_text=True)
    rows_moved = [entry.rows for entry in db.session.query(AuditEntry).filter_by(action="cancel")]
    assert rows_moved == [1, 0]  # both clicks are on record, with how many rows each moved


def test_viewers_cannot_act_and_actions_need_the_csrf_token(client, accounts):
    from tests.support.factories import booking_payload, envelope, notifications, post_and_plan

    post_and_plan(client, envelope("booking.created", booking_payload()))
    row = notifications(type="booking_24h")[0]
    sign_in(client, "viewer@example.com")
    assert "Cancel</button>" not in client.get(f"/dashboard/notifications/{row.id}").get_data(as_text=True)
    assert act(client, row.id, "cancel").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    sign_in(client, "operator@example.com")
    assert act(client, row.id, "cancel", with_token=False).status_code == 400
    assert notifications(type="booking_24h")[0].status.value == "pending"


def test_notification_filters_live_in_the_url_and_combine(client, accounts):
    from tests.support.factories import booking_payload, contact, envelope, post_and_plan

    post_and_plan(
        client,
        envelope(
            "booking.created",
            booking_payload("b-1", client=contact("client-1", name="Ada Lovelace", email="ada@example.com")),
        ),
    )
    post_and_plan(
        client,
        envelope(
            "booking.created", booking_payload("b-2", client_id="client-2", client=contact("client-2", name="Grace"))
        ),
    )
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-9", "phone": "+4915112345678"}))
    sign_in(client, "viewer@example.com")

    def ids(query: str) -> list[str]:
        return row_links(client.get(f"/dashboard/notifications?{query}").get_data(as_text=True))

    everything = ids("")
    assert len(ids("booking=b-1")) + len(ids("booking=b-2")) + len(ids("type=user_welcome")) == len(everything)
    assert ids("recipient=example.com") == ids("recipient=ada")  # name or email
    assert ids("recipient=+49151") == ids("type=user_welcome")  # phone
    assert set(ids("booking=b-1&type=booking_24h")) < set(ids("booking=b-1"))
    assert len(ids("booking=b-1&type=booking_24h&recipient=ada")) == 1
    assert ids("from=2999-01-01") == [] and ids("to=2000-01-01") == []
    assert client.get("/dashboard/notifications?type=telepathy").status_code == 400
    assert client.get("/dashboard/notifications?from=someday").status_code == 400
