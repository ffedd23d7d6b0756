"""`flask staff list / set-password / lock / unlock`: accounts from the shell, each change audited."""

import pytest
from sqlalchemy import select

from tests.support.factories import row_counts
from tests.support.signin import PASSWORD, actions, fresh_get, sign_in
from webapp.extensions import db
from webapp.models import Role, Staff

NEW_PASSWORD = "a brand new passphrase"


def staff_command(app, *args, password: str | None = None):
    """Run `flask staff ...`, answering the password prompt twice when given one."""
    answers = f"{password}\n{password}\n" if password else None
    return app.test_cli_runner().invoke(args=["staff", *args], input=answers)


def test_list_shows_each_account_with_its_role_and_state(app, accounts):
    staff_command(app, "lock", "viewer@example.com")
    lines = staff_command(app, "list").output.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["admin@example.com", "admin", "active"],
        ["operator@example.com", "operator", "active"],
        ["viewer@example.com", "viewer", "locked"],
    ]


def test_set_password_opens_the_account_with_the_new_one_and_ends_open_sessions(app, client, accounts):
    assert sign_in(client, "operator@example.com").status_code == 302
    result = staff_command(app, "set-password", "Operator@Example.com", password=NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert fresh_get(client, "/dashboard/").status_code == 302  # the session opened before is over
    assert sign_in(client, "operator@example.com", PASSWORD).status_code == 401  # the old password is refused
    assert sign_in(client, "operator@example.com", NEW_PASSWORD).status_code == 302
    assert ("staff_changed", "command line", "operator@example.com") in actions()


def test_lock_and_unlock(app, client, accounts):
    assert sign_in(client, "viewer@example.com").status_code == 302
    assert staff_command(app, "lock", "viewer@example.com").exit_code == 0
    assert fresh_get(client, "/dashboard/").status_code == 302
    assert sign_in(client, "viewer@example.com").status_code == 401
    assert staff_command(app, "unlock", "viewer@example.com").exit_code == 0
    assert sign_in(client, "viewer@example.com").status_code == 302
    changes = [(action, target) for action, actor, target in actions() if actor == "command line"]
    assert changes == [("staff_changed", "viewer@example.com")] * 2


def test_the_last_admin_cannot_be_locked_and_unknown_accounts_are_named(app, accounts):
    last = staff_command(app, "lock", "admin@example.com")
    assert last.exit_code == 1 and "last active admin" in last.output
    unknown = staff_command(app, "unlock", "nobody@example.com")
    assert unknown.exit_code == 1 and "no account nobody@example.com" in unknown.output
    short = staff_command(app, "set-password", "viewer@example.com", "--password", "short")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    assert [actor for _, actor, _ in actions()].count("command line") == 0


@pytest.mark.parametrize(
    ("email", "password", "problem"),
    [
        ("ops@example.com\nX-Injected: 1", "a-long-enough-password", "is not an email address"),
        ("<b>ops</b>@example.com", "a-long-enough-password", "is not an email address"),
        ("ops", "a-long-enough-password", "is not an email address"),
        ("ops@example.com", " " * 20, "at least 12 characters besides spaces"),
        ("ops@example.com", "   short    ", "at least 12 characters besides spaces"),
    ],
)
def test_staff_create_refuses_what_is_not_an_address_or_a_password(app, email, password, problem):
    before = row_counts()
    refused = app.test_cli_runner().invoke(args=["staff", "create", email, "--password", password])
    assert refused.exit_code == 1 and problem in refused.output
    assert row_counts() == before


def test_set_role_changes_the_role_audited_and_keeps_the_last_admin(app, client, accounts):
    assert staff_command(app, "set-role", "viewer@example.com", "operator").exit_code == 0
    assert db.session.scalar(select(Staff.role).where(Staff.email == "viewer@example.com")) == Role.OPERATOR
    assert ("staff_changed", "command line", "viewer@example.com") in actions()
    last = staff_command(app, "set-role", "admin@example.com", "viewer")
    assert last.exit_code == 1 and "last active admin" in last.output
    assert staff_command(app, "set-role", "viewer@example.com", "owner").exit_code == 2  # not a role
