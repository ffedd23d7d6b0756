"""Sessions end on the server: a copied cookie fails after sign-out, idle time, lifetime or a new password."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.support.signin import actions, csrf_token, fresh_get, sign_in
from webapp.extensions import db
from webapp.models import Staff, StaffSession
from webapp.models.types import utcnow

SEND_TEST = "/dashboard/templates/en/user_welcome/telegram"


@pytest.fixture
def operator(client, accounts):
    """The operator's browser, signed in."""
    assert sign_in(client, "operator@example.com").status_code == 302
    return client


def copy_of(app, browser):
    """Another client holding a copy of this browser's session cookie, as a thief would."""
    thief = app.test_client()
    thief.set_cookie("session", browser.get_cookie("session").value)
    return thief


def sessions_of_operator() -> list[StaffSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(StaffSession).order_by(StaffSession.id)))


def backdate(**fields) -> None:
    db.session.execute(update(StaffSession).values(**fields))
    db.session.commit()


def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(app, operator):
    thief = copy_of(app, operator)
    assert fresh_get(thief, "/dashboard/").status_code == 200  # the copy works while the session lives
    token = csrf_token(thief, SEND_TEST)
    operator.post("/logout", data={"csrf_token": csrf_token(operator, "/dashboard/")})
    assert fresh_get(thief, "/dashboard/").headers["Location"].startswith("/login")
    refused = thief.post(f"{SEND_TEST}/send-test", data={"address": "424242", "csrf_token": token, "for": "client"})
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
    assert "send_test" not in [action for action, _, _ in actions()]
    [ended] = sessions_of_operator()
    assert ended.end_reason == "signed_out" and ended.ended_at is not None


def test_a_session_ends_after_the_idle_time(app, operator):
    thief = copy_of(app, operator)
    idle = app.config["SESSION_IDLE_MINUTES"]
    backdate(last_seen_at=utcnow() - timedelta(minutes=idle - 1))
    assert fresh_get(operator, "/dashboard/").status_code == 200  # used in time: the idle clock restarts
    assert utcnow() - sessions_of_operator()[0].last_seen_at < timedelta(seconds=5)
    backdate(last_seen_at=utcnow() - timedelta(minutes=idle, seconds=1))
    assert fresh_get(thief, "/dashboard/").status_code == 302
    assert fresh_get(operator, "/dashboard/").status_code == 302
    assert sessions_of_operator()[0].end_reason == "idle"


def test_a_session_ends_after_its_lifetime_however_busy(app, operator):
    lifetime = app.config["SESSION_LIFETIME_MINUTES"]
    backdate(started_at=utcnow() - timedelta(minutes=lifetime - 1))
    assert fresh_get(operator, "/dashboard/").status_code == 200
    backdate(started_at=utcnow() - timedelta(minutes=lifetime, seconds=1), last_seen_at=utcnow())
    assert fresh_get(operator, "/dashboard/").status_code == 302
    assert sessions_of_operator()[0].end_reason == "lifetime"


def test_a_new_password_ends_every_session_of_the_account(app, operator):
    thief = copy_of(app, operator)
    result = app.test_cli_runner().invoke(
        args=["staff", "set-password", "operator@example.com"], input="another long password\n" * 2
    )
    assert result.exit_code == 0, result.output
    assert fresh_get(thief, "/dashboard/").status_code == 302
    assert fresh_get(operator, "/dashboard/").status_code == 302
    assert [row.end_reason for row in sessions_of_operator()] == ["password_changed"]
    assert sign_in(operator, "operator@example.com", "another long password").status_code == 302
    assert fresh_get(operator, "/dashboard/").status_code == 200


def test_the_table_keeps_only_a_hash_of_the_token(operator):
    [row] = sessions_of_operator()
    with operator.session_transaction() as session:
        token = session["sid"]
    assert token not in row.token_hash and len(row.token_hash) == 64


def test_the_sweep_purges_sessions_a_month_after_they_ended_or_ran_out(app, operator):
    from workers.jobs import sweep

    now, idle = utcnow(), timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    month = timedelta(days=30)
    rows = {
        "ended a month and a day ago": {"ended_at": now - month - timedelta(days=1), "end_reason": "signed_out"},
        "ended a month less a day ago": {"ended_at": now - month + timedelta(days=1), "end_reason": "signed_out"},
        "left idle, run out a month and a day ago": {"last_seen_at": now - month - idle - timedelta(days=1)},
        "in use": {"last_seen_at": now},
    }
    staff_id = db.session.scalar(select(Staff.id).filter_by(email="operator@example.com"))
    for name, columns in rows.items():
        db.session.add(StaffSession(token_hash=name, staff_id=staff_id, started_at=now - 2 * month, **columns))
    db.session.commit()
    assert sweep()["sessions_purged"] == 2
    kept = set(db.session.scalars(select(StaffSession.token_hash).where(StaffSession.token_hash.in_(rows))))
    assert kept == {"ended a month less a day ago", "in use"}
