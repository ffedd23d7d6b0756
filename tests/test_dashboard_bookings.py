"""The bookings list, a booking's timeline, and the actions on a booking."""

from tests.support.signin import actions, csrf_token, sign_in


def test_bookings_list_filters_and_the_timeline_shows_local_and_utc_times(client, accounts):
    from datetime import datetime, timezone

    from tests.support.factories import booking_payload, contact, envelope, post_and_plan

    start = datetime(2031, 6, 10, 7, 0, tzinfo=timezone.utc)
    ada = contact("client-1", name="Ada", timezone="Asia/Kolkata")
    post_and_plan(
        client, envelope("booking.created", booking_payload("b-1", start=start, service_name="Code Review", client=ada))
    )
    post_and_plan(
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
    for wildcard in ("%25", "_", "c_de"):  # SQL's wildcards match only themselves
        assert "b-1" not in listed(f"service={wildcard}") and "b-1" not in listed(f"person={wildcard}")
    assert client.get("/dashboard/bookings?from=tomorrow").status_code == 400
    timeline = client.get("/dashboard/bookings/b-1").get_data(as_text=True)
    assert "2031-06-10 12:30 IST" in timeline and "2031-06-10 07:00" in timeline  # the start, both ways
    assert "Cancel all pending" not in timeline  # viewers see no actions
    assert client.get("/dashboard/bookings/nope").status_code == 404


def test_operators_cancel_all_pending_and_resend_a_type(app, client, accounts, run_jobs):
    from tests.support.factories import booking_payload, envelope, notifications, post_and_plan

    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
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
