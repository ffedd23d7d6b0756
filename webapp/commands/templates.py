"""`flask templates ...`: check the shipped message templates, preview one as its recipient sees it."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.domain.planning.notification_rows import KNOWN_CHANNELS
from webapp.domain.sending.templates import checks
from webapp.domain.sending.templates.rendering import RenderError
from webapp.extensions import db
from webapp.models import Booking, NotificationType

templates_cli = AppGroup("templates", help="Message templates.")


@templates_cli.command("check")
@click.option("--locale", "locales", multiple=True, help="Check only this language (repeatable).")
def check_templates(locales):
    """Fail, naming each gap, if a type and channel lacks a template or one fails to render."""
    problems = checks.gaps(list(locales) or None)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} template problem(s)")
    checked = list(locales) or checks.shipped_locales()
    click.echo(f"templates ok: {len(NotificationType)} types x {len(KNOWN_CHANNELS)} channels in {', '.join(checked)}")


@templates_cli.command("preview")
@click.argument("kind", type=click.Choice([kind.value for kind in NotificationType]))
@click.option("--channel", type=click.Choice(KNOWN_CHANNELS), default="email", show_default=True)
@click.option("--locale", default="en", show_default=True)
@click.option("--booking", "booking_id", help="Render for a real booking (its external id) instead of samples.")
@click.option("--for", "party", type=click.Choice(["client", "expert"]), default="client", show_default=True)
def preview_template(kind, channel, locale, booking_id, party):
    """Show a message as its recipient would get it, with SMS segments and length limits."""
    booking = None
    if booking_id:
        booking = db.session.scalar(select(Booking).filter_by(external_id=booking_id))
        if booking is None:
            raise click.ClickException(f"no booking {booking_id!r}")
    try:
        facts = checks.preview(NotificationType(kind), channel, locale, booking, party)
    except RenderError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Subject: {facts['subject']}\n\n{facts['body']}\n")
    line = f"{facts['characters']} characters"
    if "segments" in facts:
        line += f", {facts['encoding']}, {facts['segments']} SMS segment(s)"
    if "limit" in facts:
        line += f" (limit {facts['limit']})"
    click.echo(line)
