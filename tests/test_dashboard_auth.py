"""Staff sign-in: roles checked on the server, CSRF on every form, throttled failures, an audit trail."""

import math
import re
import time

from tests.support.signin import PASSWORD, actions, csrf_token, sign_in
from webapp.extensions import db
from webapp.models import AuditEntry


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


def test_failed_logins_are_recorded_and_throttled_per_account(app, client, accounts):
    app.config["LOGIN_MAX_FAILURES"] = 3
    for n in range(3):  # from three addresses, so only the account's count reaches the limit
        assert sign_in(client, "viewer@example.com", "wrong password!", f"10.0.0.{n}").status_code == 401
    assert sign_in(client, "viewer@example.com", address="10.0.0.9").status_code == 429  # even the right password
    assert [action for action, _, _ in actions()] == ["login_failed"] * 3 + ["login_throttled"]
    assert sign_in(client, "operator@example.com", address="10.0.0.9").status_code == 302  # others are not held


def test_failed_logins_are_throttled_per_address_across_accounts(app, client, accounts):
    app.config["LOGIN_MAX_FAILURES"] = 3
    for n in range(3):
        assert sign_in(client, f"nobody{n}@example.com", "guess", "10.0.0.1").status_code == 401
    assert sign_in(client, "admin@example.com", address="10.0.0.1").status_code == 429
    assert sign_in(client, "admin@example.com", address="10.0.0.2").status_code == 302


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


def test_template_preview_shows_sms_segments(client, accounts):
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/templates/de/booking_24h/sms").get_data(as_text=True)
    assert "Erinnerung: Code Review mit Grace Hopper" in page
    assert "GSM-7, 1 SMS segment" in page and "at most 1600" in page
    assert "<title>booking_24h on sms (de) · Bellhop</title>" in page  # the send-test form once leaked into it
    index = client.get("/dashboard/templates").get_data(as_text=True)
    assert index.count("/dashboard/templates/") == 13 * 5 * 2
    assert client.get("/dashboard/templates/xx/booking_24h/sms").status_code == 404
    assert client.get("/dashboard/templates/en/no_such_type/sms").status_code == 404


def test_template_preview_of_a_real_booking(client, accounts):
    from tests.support.factories import booking_payload, contact, envelope, post

    post(
        client,
        envelope(
            "booking.created", booking_payload("b-7", expert=contact("expert-1", name="Grace", timezone="Asia/Kolkata"))
        ),
    )
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/templates/en/booking_1h/telegram?booking=b-7&for=expert").get_data(as_text=True)
    assert "Hello Grace" in page and "IST" in page and "at most 4096" in page
    missing = client.get("/dashboard/templates/en/booking_1h/telegram?booking=nope").get_data(as_text=True)
    assert "No booking &#39;nope&#39;; showing sample data." in missing


def send_test(client, path, address):
    token = csrf_token(client, path)
    return client.post(
        f"{path}/send-test", data={"address": address, "csrf_token": token, "booking": "", "for": "client"}
    )


def test_operators_send_a_test_and_see_what_the_provider_said(app, client, accounts, run_jobs, telegram):
    app.config.update(TELEGRAM_BASE_URL=telegram.url, TELEGRAM_BOT_TOKEN=telegram.TOKEN)
    sign_in(client, "operator@example.com")
    path = "/dashboard/templates/de/booking_1h/telegram"
    response = send_test(client, path, "424242")
    assert response.status_code == 302 and "test=" in response.headers["Location"]
    run_jobs()
    [request] = telegram.requests
    assert request["json"]["chat_id"] == "424242" and request["json"]["text"].startswith("Hallo Ada Lovelace")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "sent: telegram message 1" in page
    assert actions()[-1][:2] == ("send_test", "operator@example.com")


def test_a_failed_test_send_shows_the_providers_reason(app, client, accounts, run_jobs, telegram):
    app.config.update(TELEGRAM_BASE_URL=telegram.url, TELEGRAM_BOT_TOKEN=telegram.TOKEN)
    telegram.error(400, "Bad Request: chat not found")
    sign_in(client, "operator@example.com")
    response = send_test(client, "/dashboard/templates/en/user_welcome/telegram", "999")
    run_jobs()
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "failed:" in page and "Telegram 400: Bad Request: chat not found" in page


def test_viewers_cannot_send_tests_and_nobody_can_test_the_webhook(client, accounts):
    sign_in(client, "viewer@example.com")
    path = "/dashboard/templates/en/user_welcome/telegram"
    assert "Send a test" not in client.get(path).get_data(as_text=True)
    assert send_test(client, path, "424242").status_code == 403  # checked on the server, not just hidden
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    sign_in(client, "admin@example.com")
    assert send_test(client, "/dashboard/templates/en/user_welcome/webhook", "http://10.0.0.1/").status_code == 400
    assert [action for action, _, _ in actions()].count("send_test") == 0


def row_links(page: str) -> list[str]:
    """The notification ids a list page links to, one per row."""
    return re.findall(r'/dashboard/notifications/(\d+)"', page)


def test_notifications_list_filters_by_status_and_pages_by_id(app, client, accounts):
    from tests.support.factories import envelope, post

    for n in range(3):
        post(client, envelope("user.welcome", {"user_id": f"u-{n}", "preferences": {"account": n != 1}}))
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/notifications?status=suppressed").get_data(as_text=True)
    assert len(row_links(page)) == 1 and "suppressed: recipient opted out of account messages" in page
    import webapp.blueprints.dashboard.paging as dashboard

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

    from tests.support.factories import envelope, notifications, now, post

    app.config.update(CHANNELS=["telegram"], TELEGRAM_BASE_URL=telegram.url, TELEGRAM_BOT_TOKEN=telegram.TOKEN)
    window = f"{now() - timedelta(hours=1):%H:%M}-{now() + timedelta(hours=2):%H:%M}"
    post(
        client,
        envelope("user.welcome", {"user_id": "u-1", "telegram_chat_id": "1", "timezone": "UTC", "quiet_hours": window}),
    )
    telegram.error(403, "Forbidden: bot was blocked by the user")
    post(client, envelope("user.profile_updated", {"user_id": "u-2", "telegram_chat_id": "2"}))
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
    from tests.support.factories import envelope, notifications, post

    app.config.update(CHANNELS=["telegram"], TELEGRAM_BASE_URL=telegram.url, TELEGRAM_BOT_TOKEN=telegram.TOKEN)
    telegram.error(400, "Bad Request: chat not found")
    post(client, envelope("user.welcome", {"user_id": "u-1", "telegram_chat_id": "1"}))
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
    from tests.support.factories import booking_payload, envelope, notifications, post

    post(client, envelope("booking.created", booking_payload()))
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
    from tests.support.factories import booking_payload, envelope, notifications, post

    post(client, envelope("booking.created", booking_payload()))
    row = notifications(type="booking_24h")[0]
    sign_in(client, "viewer@example.com")
    assert "Cancel</button>" not in client.get(f"/dashboard/notifications/{row.id}").get_data(as_text=True)
    assert act(client, row.id, "cancel").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    sign_in(client, "operator@example.com")
    assert act(client, row.id, "cancel", with_token=False).status_code == 400
    assert notifications(type="booking_24h")[0].status.value == "pending"


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


def test_bookings_list_filters_and_the_timeline_shows_local_and_utc_times(client, accounts):
    from datetime import datetime, timezone

    from tests.support.factories import booking_payload, contact, envelope, post

    start = datetime(2031, 6, 10, 7, 0, tzinfo=timezone.utc)
    ada = contact("client-1", name="Ada", timezone="Asia/Kolkata")
    post(
        client, envelope("booking.created", booking_payload("b-1", start=start, service_name="Code Review", client=ada))
    )
    post(
        client,
        envelope(
            "booking.created",
            booking_payload(
                "b-2",
                start=start.replace(year=2032),
                service_name="Mock Interview",
                client_id="client-2",
                client=contact("client-2"),
            ),
        ),
    )
    sign_in(client, "viewer@example.com")

    def listed(query: str) -> str:
        return client.get(f"/dashboard/bookings?{query}").get_data(as_text=True).split("<table>")[1]

    assert "b-1" in listed("service=code") and "b-2" not in listed("service=code")
    assert "b-2" in listed("from=2032-01-01") and "b-1" not in listed("from=2032-01-01")
    assert "b-1" in listed("person=ada") and "b-2" not in listed("person=ada")
    assert client.get("/dashboard/bookings?from=tomorrow").status_code == 400
    timeline = client.get("/dashboard/bookings/b-1").get_data(as_text=True)
    assert "2031-06-10 12:30 IST" in timeline and "2031-06-10 07:00" in timeline  # the start, both ways
    assert "Cancel all pending" not in timeline  # viewers see no actions
    assert client.get("/dashboard/bookings/nope").status_code == 404


def test_operators_cancel_all_pending_and_resend_a_type(app, client, accounts, run_jobs):
    from tests.support.factories import booking_payload, envelope, notifications, post

    post(client, envelope("booking.created", booking_payload("b-1")))
    run_jobs()  # booking_created goes out on the log channel
    sign_in(client, "operator@example.com")
    token = csrf_token(client, "/dashboard/bookings/b-1")
    client.post("/dashboard/bookings/b-1/cancel-pending", data={"csrf_token": token})
    reminders = [row for row in notifications() if row.type.value != "booking_created"]
    assert reminders and {row.status.value for row in reminders} == {"cancelled"}
    [created] = notifications(type="booking_created")
    assert created.status.value == "sent"
    token = csrf_token(client, "/dashboard/bookings/b-1")
    response = client.post("/dashboard/bookings/b-1/resend", data={"csrf_token": token, "type": "booking_created"})
    assert "1 booking_created resent" in client.get(response.headers["Location"]).get_data(as_text=True)
    [created] = notifications(type="booking_created")
    assert created.status.value == "pending" and created.last_error == "resent by operator@example.com"
    assert [action for action, _, _ in actions()][-2:] == ["cancel", "resend"]
    bad = client.post("/dashboard/bookings/b-1/resend", data={"csrf_token": token, "type": "nonsense"})
    assert bad.status_code == 400


def test_overview_counts_statuses_lateness_queue_and_draws_the_chart(client, accounts, run_jobs):
    from tests.support.factories import booking_payload, envelope, post

    post(client, envelope("booking.created", booking_payload("b-1")))
    post(client, envelope("user.welcome", {"user_id": "u-1", "preferences": {"account": False}}))
    run_jobs()  # the booking_created message is sent; the welcome is suppressed
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/").get_data(as_text=True)
    rows = dict(re.findall(r'status=(\w+)"><span class="badge badge-\w+">\w+</span></a></td>\s*<td>(\d+)</td>', page))
    assert rows["sent"] == "1" and rows["suppressed"] == "1" and int(rows["pending"]) >= 8
    assert "Failure rate, last 24 h: 0.0%" in page
    assert "over 1." in page  # the one message sent in the last hour has a lateness
    assert "0 jobs waiting, 0 workers alive" in page
    assert page.count("<rect") == 2 * 48 and "1 sent</title>" in page


def test_notification_filters_live_in_the_url_and_combine(client, accounts):
    from tests.support.factories import booking_payload, contact, envelope, post

    post(
        client,
        envelope(
            "booking.created",
            booking_payload("b-1", client=contact("client-1", name="Ada Lovelace", email="ada@example.com")),
        ),
    )
    post(
        client,
        envelope(
            "booking.created", booking_payload("b-2", client_id="client-2", client=contact("client-2", name="Grace"))
        ),
    )
    post(client, envelope("user.welcome", {"user_id": "u-9", "phone": "+4915112345678"}))
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
