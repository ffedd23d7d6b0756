"""`flask mail bounce`: feed a bounce or complaint from a mail server's pipe."""

import sys

import click
from flask.cli import AppGroup

from webapp.domain.after_sending import bounces
from webapp.models.types import utcnow

mail_cli = AppGroup("mail", help="Email bounces and complaints.")


@mail_cli.command("bounce")
def read_bounce():
    """Read one bounce or complaint message (RFC 5322) on standard input and apply it.

    For a mail server's pipe, e.g. in Postfix's master.cf: flags=R user=bellhop argv=flask mail bounce
    """
    raw = sys.stdin.buffer.read()
    if not raw.strip():
        raise click.UsageError("give the bounce message on standard input: flask mail bounce < message.eml")
    try:
        handled = bounces.handle(raw, utcnow())
    except bounces.UnreadableBounce as error:
        raise click.ClickException(str(error)) from None
    if not handled.notification_ids:
        click.echo(f"{handled.kind}: names no message of ours with a valid signature; nothing changed")
        return
    click.echo(f"{handled.kind}: notification {', '.join(map(str, handled.notification_ids))}")
