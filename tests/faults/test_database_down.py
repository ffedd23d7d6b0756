"""The database going away: webhook posts get 503 and store nothing; a send in flight is retried later."""

import json
import math
import time

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.support.apps import config_for
from tests.support.factories import (
    booking_payload,
    envelope,
    notifications,
    plan,
    post_and_plan,
    row_counts,
    signed_headers,
)
from tests.support.signin import sign_in
from tests.support.tcp_proxy import Proxy
from webapp import create_app
from webapp.domain.planning import planner
from webapp.extensions import db
from webapp.models import InboundEvent

# A database outage is a cut TCP connection to its server; SQLite, a file in the process, has none to cut.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def outage(postgres_url):
    """A TCP proxy in front of PostgreSQL, and the URL that goes through it."""
    real = make_url(postgres_url)
    proxy = Proxy(real.port)
    yield proxy, real.set(port=proxy.port).render_as_string(hide_password=False)
    proxy.close()


@pytest.fixture
def cut_off_app(app, outage, redis_url):
    """A second Bellhop app whose database connection runs through the proxy."""
    _, url = outage
    other = create_app(config_for(url, redis_url, LEASE_SECONDS=2, CHANNELS=[]))
    yield other
    with other.app_context():
        db.engine.dispose()


def signed_post(client, event_id: str, booking_id: str):
    body = json.dumps(envelope("booking.created", booking_payload(booking_id)))
    return client.post(
        "/webhooks/events", data=body, headers=signed_headers(body, event_id=event_id), content_type="application/json"
    )


def test_webhook_posts_during_an_outage_get_503_store_nothing_and_retries_apply_once(app, cut_off_app, outage):
    proxy, _ = outage
    sender = cut_off_app.test_client()
    with cut_off_app.app_context():
        assert signed_post(sender, "evt-warm", "b-warm").status_code == 202  # the pool holds live connections
    before = row_counts()
    proxy.cut()
    with cut_off_app.app_context():
        answers = [signed_post(sender, f"evt-{n}", f"b-{n}") for n in range(20)]
    assert {answer.status_code for answer in answers} == {503}
    assert all(
        answer.headers["Retry-After"] == "5" and "database unavailable" in answer.get_json()["error"]
        for answer in answers
    )
    assert row_counts() == before  # no partial rows
    proxy.restore()
    with cut_off_app.app_context():
        retried = [signed_post(sender, f"evt-{n}", f"b-{n}") for n in range(20)]
        again = [signed_post(sender, f"evt-{n}", f"b-{n}") for n in range(20)]  # an over-eager sender
    assert {answer.status_code for answer in retried} == {202}
    assert all(200 <= answer.status_code < 300 for answer in again)
    plan()
    db.session.expire_all()
    assert db.session.query(InboundEvent).count() == 21
    assert len(notifications()) == 21 * 9  # each booking planned once


def test_a_planner_that_loses_the_database_marks_nothing_failed_and_plans_it_all_later(app, cut_off_app, outage):
    proxy, _ = outage
    sender = cut_off_app.test_client()
    with cut_off_app.app_context():
        assert all(signed_post(sender, f"evt-{n}", f"b-{n}").status_code == 202 for n in range(20))
        proxy.cut()
        with pytest.raises(OperationalError):
            planner.plan_waiting()
        db.session.rollback()
        proxy.restore()
        assert planner.plan_waiting() == 20
    db.session.expire_all()
    assert {event.outcome.value for event in db.session.query(InboundEvent)} == {"applied"}
    assert len(notifications()) == 20 * 9


def test_a_send_whose_database_write_fails_is_retried_later_and_shows_on_the_dashboard(
    app, client, accounts, cut_off_app, outage, receiver
):
    from workers.jobs import sweep

    proxy, _ = outage
    app.config.update(CHANNELS=[], LEASE_SECONDS=2)
    post_and_plan(client, envelope("user.welcome", {"user_id": "u-1", "webhook_url": receiver.url}))
    receiver.on_request = lambda count: proxy.cut() if count == 1 else None  # gone while the post is out
    time.sleep(math.ceil(time.time()) - time.time() + 0.3)
    run_jobs_through(cut_off_app)  # the worker cannot record the send: its job fails, the row stays claimed
    [row] = notifications()
    assert row.status.value == "processing" and len(receiver.received) == 1
    proxy.restore()
    time.sleep(2.5)  # the lease runs out
    with cut_off_app.app_context():
        assert sweep()["returned"] == 1
    run_jobs_through(cut_off_app)
    [row] = notifications()
    assert row.status.value == "sent" and row.attempts == 2
    ids = {request["headers"]["webhook-id"] for request in receiver.received}
    assert len(receiver.received) == 2 and len(ids) == 1  # the resend carries the same key
    sign_in(client, "viewer@example.com")
    page = client.get(f"/dashboard/notifications/{row.id}").get_data(as_text=True)
    assert "worker lost mid-send" in page and "lease expired: taken back by the sweep" in page


def run_jobs_through(other_app) -> None:
    """The scheduler step and a burst worker, as the cut-off app's processes."""
    from rq import SimpleWorker

    from webapp.plumbing import queueing
    from workers.scheduler import BellhopScheduler

    with other_app.app_context():
        connection = queueing.redis_connection()
        BellhopScheduler(
            queue_name=other_app.config["RQ_QUEUE"],
            connection=connection,
            interval=1,
            sweep_interval=other_app.config["SWEEP_INTERVAL_SECONDS"],
        ).enqueue_jobs()
        SimpleWorker([queueing.queue()], connection=connection).work(burst=True, with_scheduler=False)
    db.session.expire_all()
