"""The overview: counts, lateness, queue and chart."""

import re

from tests.support.signin import sign_in


def test_overview_counts_statuses_lateness_queue_and_draws_the_chart(client, accounts, run_jobs):
    from tests.support.factories import booking_payload, envelope, post_and_plan

    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "preferences": {"account": False}}))
    run_jobs()  # the booking_created message is sent; the welcome is suppressed
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/").get_data(as_text=True)
    rows = dict(re.findall(r'status=(\w+)"><span class="badge badge-\w+">\w+</span></a></td>\s*<td>(\d+)</td>', page))
    assert rows["sent"] == "1" and rows["suppressed"] == "1" and int(rows["pending"]) >= 8
    assert "Failure rate, last 24 h: 0.0%" in page
    assert "over 1." in page  # the one message sent in the last hour has a lateness
    assert "0 jobs waiting, 0 workers alive" in page
    assert page.count("<rect") == 2 * 48 and "1 sent</title>" in page
