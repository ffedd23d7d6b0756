"""The template previews and operator test sends."""

from tests.support.signin import PASSWORD, actions, csrf_token, sign_in


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
    from tests.support.factories import booking_payload, contact, envelope, post_and_plan

    post_and_plan(
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


def test_a_test_send_without_an_address_is_refused_with_the_reason(client, accounts):
    sign_in(client, "operator@example.com")
    response = send_test(client, "/dashboard/templates/en/user_welcome/telegram", "")
    assert response.status_code == 400 and "address: This field is required." in response.get_data(as_text=True)
    webhook = send_test(client, "/dashboard/templates/en/user_welcome/webhook", "http://10.0.0.1/")
    assert "channel: test sends go over" in webhook.get_data(as_text=True)
    assert [action for action, _, _ in actions()].count("send_test") == 0


def test_only_the_operator_who_started_a_test_send_sees_its_result(app, client, accounts, run_jobs, telegram):
    from webapp.domain.staff import accounts
    from webapp.extensions import db
    from webapp.models import Role
    from webapp.plumbing import queueing

    app.config.update(TELEGRAM_BASE_URL=telegram.url, TELEGRAM_BOT_TOKEN=telegram.TOKEN)
    accounts.create("second-operator@example.com", PASSWORD, Role.OPERATOR)
    db.session.commit()
    sign_in(client, "operator@example.com")
    result_page = send_test(client, "/dashboard/templates/en/user_welcome/telegram", "424242").headers["Location"]
    run_jobs()
    assert "sent: telegram message 1" in client.get(result_page).get_data(as_text=True)
    for other_job in (
        queueing.queue().enqueue("workers.jobs.send_test", "x", "telegram", "en", None, "client", {}),  # nobody's
        queueing.queue().enqueue("workers.jobs.deliver", [1], "telegram"),  # not a test send
    ):
        other_page = result_page.replace(result_page.split("test=")[1].split("&")[0], other_job.id)
        assert "no such test send of yours" in client.get(other_page).get_data(as_text=True)
    for someone_else in ("second-operator@example.com", "admin@example.com", "viewer@example.com"):
        sign_in(client, someone_else)
        page = client.get(result_page).get_data(as_text=True)
        assert "telegram message 1" not in page and "no such test send of yours" in page
