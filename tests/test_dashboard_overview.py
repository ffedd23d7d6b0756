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


def test_the_chart_counts_each_utc_hour_whatever_the_database_session_time_zone(client):
    from datetime import timedelta

    from sqlalchemy import text, update

    from tests.support.factories import booking_payload, envelope, notifications, now, post_and_plan
    from webapp.domain.staff import overview
    from webapp.extensions import db
    from webapp.models import Notification

    post_and_plan(client, envelope("booking.created", booking_payload("b-1")))
    hour = now().replace(minute=0, second=0, microsecond=0)
    ids = [row.id for row in notifications()]
    sent_at = [
        hour - timedelta(hours=2, microseconds=1),
        hour - timedelta(hours=2),
        hour - timedelta(hours=1, seconds=1),
    ]
    for notification_id, moment in zip(ids[:4], [*sent_at, hour], strict=True):
        db.session.execute(
            update(Notification).where(Notification.id == notification_id).values(status="sent", sent_at=moment)
        )
    failed_at = hour - timedelta(hours=5) + timedelta(minutes=30)
    db.session.execute(
        update(Notification).where(Notification.id == ids[4]).values(status="failed", updated_at=failed_at)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))  # half an hour off: a local hour is not UTC's
    chart = {
        slot["hour"]: (slot["sent"], slot["failed"])
        for slot in overview.hourly(now())
        if slot["sent"] or slot["failed"]
    }
    assert chart == {
        hour - timedelta(hours=5): (0, 1),
        hour - timedelta(hours=3): (1, 0),
        hour - timedelta(hours=2): (2, 0),
        hour: (1, 0),
    }
