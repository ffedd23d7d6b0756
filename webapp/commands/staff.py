"""`flask staff ...`: dashboard accounts from the shell, so a locked-out admin can always get back in."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.domain.staff import accounts
from webapp.extensions import db
from webapp.models import Role, Staff

staff_cli = AppGroup("staff", help="Dashboard accounts.")
ACTOR = "command line"


def password_option(command):
    """A password asked for twice, or taken from BELLHOP_STAFF_PASSWORD."""
    return click.option(
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="Asked for when not given; read from BELLHOP_STAFF_PASSWORD too.",
        envvar="BELLHOP_STAFF_PASSWORD",
    )(command)


def account_named(email: str) -> Staff:
    """The account with this email, or a clear error."""
    account = db.session.scalar(select(Staff).where(Staff.email == email.strip().lower()))
    if account is None:
        raise click.ClickException(f"no account {email.strip().lower()}")
    return account


def change(account: Staff, **changes) -> None:
    """Apply a change through the staff domain, audited as done from the shell."""
    try:
        accounts.change(
            account,
            changes.get("role", account.role),
            changes.get("active", account.active),
            changes.get("password"),
            actor=ACTOR,
        )
    except accounts.StaffError as error:
        raise click.ClickException(str(error)) from None


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([role.value for role in Role]), default="viewer", show_default=True)
@password_option
def create_staff(email, role, password):
    """Add a dashboard account."""
    try:
        account = accounts.add(email, password, Role(role), actor=ACTOR)
    except accounts.StaffError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"created {account.email} ({role})")


@staff_cli.command("list")
def list_staff():
    """Every account: email, role, whether it can sign in, and its last sign-in."""
    for account in db.session.scalars(select(Staff).order_by(Staff.email)):
        state = "active" if account.active else "locked"
        last = account.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if account.last_login_at else "never"
        click.echo(f"{account.email}\t{account.role.value}\t{state}\tlast sign-in {last}")


@staff_cli.command("set-password")
@click.argument("email")
@password_option
def set_password(email, password):
    """Give an account a new password; its open sessions end now."""
    account = account_named(email)
    change(account, password=password)
    click.echo(f"new password set for {account.email}")


@staff_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice([role.value for role in Role]))
def set_role(email, role):
    """Give an account another role (viewer, operator, admin). The last active admin stays an admin."""
    account = account_named(email)
    change(account, role=Role(role))
    click.echo(f"{account.email} is now {role}")


@staff_cli.command("lock")
@click.argument("email")
def lock(email):
    """Stop an account signing in; its open sessions end at their next request. The last admin stays."""
    set_active(email, False)


@staff_cli.command("unlock")
@click.argument("email")
def unlock(email):
    """Let a locked account sign in again."""
    set_active(email, True)


def set_active(email: str, active: bool) -> None:
    """Lock or unlock an account, audited, and say so."""
    account = account_named(email)
    change(account, active=active)
    click.echo(f"{'unlocked' if active else 'locked'} {account.email}")
