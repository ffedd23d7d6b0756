"""Flask-Admin at /admin: admins only, staff through the staff rules, recipients checked, the rest read-only."""

import pytest

from tests.support.factories import booking_payload, envelope, post_and_plan, row_counts
from tests.support.signin import PASSWORD, actions, csrf_token, fresh_get, sign_in
from webapp.domain.staff import accounts as accounts_domain
from webapp.extensions import db
from webapp.models import AuditEntry, Booking, InboundEvent, Notification, Recipient, Role, Staff

# Tables the tests below fill with a row; attempts and preferences are only listed.
READ_ONLY_MODELS = [Booking, Notification, InboundEvent, AuditEntry]
READ_ONLY_LISTS = [model.__tablename__ for model in READ_ONLY_MODELS] + ["delivery_attempts", "preferences"]


def form_post(client, path, data):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def account(email):
    db.session.expire_all()
    return db.session.query(Staff).filter_by(email=email).one()


def test_admin_pages_need_an_admin(client, accounts):
    for path in ["/admin/", "/admin/admin_staff/", "/admin/admin_recipients/"]:
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    sign_in(client, "operator@example.com")
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/admin_staff/").status_code == 403
    assert client.post(
        "/admin/admin_staff/new/", data={"email": "x@example.com", "password": "p" * 20, "role": "admin"}
    ).status_code in (400, 403)
    assert db.session.query(Staff).filter_by(email="x@example.com").count() == 0


def test_admin_pages_share_the_dashboards_look(client, accounts):
    sign_in(client, "admin@example.com")
    page = client.get("/admin/").get_data(as_text=True)
    assert "dashboard.css" in page and 'href="/dashboard/notifications"' in page
    assert 'href="/admin/"' in client.get("/dashboard/").get_data(as_text=True)
    for name in READ_ONLY_LISTS:
        assert client.get(f"/admin/admin_{name}/").status_code == 200, name


def test_admins_create_staff_with_a_hashed_password_and_an_audit_row(client, accounts):
    sign_in(client, "admin@example.com")
    response = form_post(
        client, "/admin/admin_staff/new/", {"email": "New.Person@example.com", "role": "operator", "password": PASSWORD}
    )
    assert response.status_code == 302
    created = account("new.person@example.com")
    assert created.role == Role.OPERATOR and PASSWORD not in created.password_hash
    assert ("staff_created", "admin@example.com", "new.person@example.com (operator)") in actions()
    client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard/")})
    assert sign_in(client, "new.person@example.com").status_code == 302


@pytest.mark.parametrize(
    "data, reason",
    [
        ({"email": "short@example.com", "role": "viewer", "password": "short"}, "at least 12 characters"),
        ({"email": "viewer@example.com", "role": "viewer", "password": PASSWORD}, "already has an account"),
    ],
)
def test_bad_staff_input_is_refused_with_the_reason(client, accounts, data, reason):
    sign_in(client, "admin@example.com")
    before = db.session.query(Staff).count()
    page = form_post(client, "/admin/admin_staff/new/", data).get_data(as_text=True)
    assert reason in page
    assert db.session.query(Staff).count() == before
    assert not [entry for entry in actions() if entry[0] == "staff_created"]


def test_a_new_password_or_deactivation_ends_that_accounts_sessions(app, client, accounts):
    other = app.test_client()
    sign_in(other, "viewer@example.com")
    assert other.get("/dashboard/").status_code == 200
    sign_in(client, "admin@example.com")
    viewer = account("viewer@example.com")
    response = form_post(
        client,
        f"/admin/admin_staff/edit/?id={viewer.id}",
        {"role": "operator", "active": "y", "password": "a brand new password"},
    )
    assert response.status_code == 302
    assert account("viewer@example.com").role == Role.OPERATOR
    assert fresh_get(other, "/dashboard/").status_code == 302  # the old session no longer opens the dashboard
    assert ("staff_changed", "admin@example.com", "viewer@example.com") in actions()
    sign_in(other, "viewer@example.com", "a brand new password")
    form_post(client, f"/admin/admin_staff/edit/?id={viewer.id}", {"role": "operator"})  # unticked: inactive
    assert account("viewer@example.com").active is False
    assert fresh_get(other, "/dashboard/").status_code == 302


def test_the_last_active_admin_cannot_be_demoted_or_locked(client, accounts):
    sign_in(client, "admin@example.com")
    me = account("admin@example.com")
    page = form_post(client, f"/admin/admin_staff/edit/?id={me.id}", {"role": "viewer", "active": "y"})
    assert "last active admin" in page.get_data(as_text=True)
    assert account("admin@example.com").role == Role.ADMIN and account("admin@example.com").active


def test_an_admin_who_locks_their_own_account_is_named_in_the_audit_log(client, accounts):
    accounts_domain.add("second-admin@example.com", PASSWORD, Role.ADMIN)  # so this one is not the last
    sign_in(client, "admin@example.com")
    me = account("admin@example.com")
    form_post(client, f"/admin/admin_staff/edit/?id={me.id}", {"role": "admin"})  # unticked: inactive
    assert not account("admin@example.com").active
    assert ("staff_changed", "admin@example.com", "admin@example.com") in actions()  # not "anonymous"


def test_admins_correct_a_recipients_contact_details(client, accounts):
    post_and_plan(client, envelope("booking.created", booking_payload()))
    person = db.session.query(Recipient).order_by(Recipient.id).first()
    sign_in(client, "admin@example.com")
    fields = {
        name: getattr(person, name) or ""
        for name in ("name", "email", "phone", "telegram_chat_id", "webhook_url", "timezone", "locale", "quiet_hours")
    }
    response = form_post(
        client,
        f"/admin/admin_recipients/edit/?id={person.id}",
        {**fields, "email": "fixed@example.com", "quiet_hours": "22:00-07:00"},
    )
    assert response.status_code == 302
    db.session.expire_all()
    person = db.session.get(Recipient, person.id)
    assert (person.email, person.quiet_hours) == ("fixed@example.com", "22:00-07:00")
    assert ("recipient_changed", "admin@example.com", person.external_id) in actions()


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("timezone", "Mars/Olympus", "unknown IANA timezone"),
        ("quiet_hours", "late", "quiet"),
        ("email", "not an address", "email"),
        ("email", "lin@localhost", "is not an email address"),
        ("phone", "0151 1234 5678", "has no country code"),
        ("phone", "+49 151", "is not a valid number"),
        ("webhook_url", "ftp://example.com/hook", "webhook_url"),
    ],
)
def test_bad_recipient_details_are_refused_and_change_nothing(client, accounts, field, value, reason):
    post_and_plan(client, envelope("booking.created", booking_payload()))
    person = db.session.query(Recipient).order_by(Recipient.id).first()
    before = {name: getattr(person, name) for name in ("email", "timezone", "quiet_hours", "webhook_url")}
    sign_in(client, "admin@example.com")
    page = form_post(
        client, f"/admin/admin_recipients/edit/?id={person.id}", {"timezone": "UTC", "locale": "en", field: value}
    ).get_data(as_text=True)
    assert reason in page
    db.session.expire_all()
    person = db.session.get(Recipient, person.id)
    assert {name: getattr(person, name) for name in before} == before
    assert not [entry for entry in actions() if entry[0] == "recipient_changed"]


def test_other_tables_are_read_only(client, accounts):
    post_and_plan(client, envelope("booking.created", booking_payload()))
    sign_in(client, "admin@example.com")
    before = row_counts()
    for model in READ_ONLY_MODELS:
        name, row_id = model.__tablename__, db.session.query(model.id).limit(1).scalar()
        assert row_id is not None, name
        assert client.get(f"/admin/admin_{name}/details/?id={row_id}").status_code == 200, name
        assert client.get(f"/admin/admin_{name}/new/").status_code == 302, name
        assert client.get(f"/admin/admin_{name}/edit/?id={row_id}").status_code == 302, name
        token = csrf_token(client, "/admin/")
        assert client.post(f"/admin/admin_{name}/delete/", data={"id": row_id, "csrf_token": token}).status_code == 302
    assert row_counts() == before
