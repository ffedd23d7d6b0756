"""Every `flask` command but the background processes': events, demo data, templates, config, mail, staff, db."""

from flask import Flask

from webapp.commands.config import config_cli
from webapp.commands.demo import demo_cli
from webapp.commands.events import events_cli
from webapp.commands.mail import mail_cli
from webapp.commands.migrations import migrations_cli
from webapp.commands.staff import staff_cli
from webapp.commands.templates import templates_cli

GROUPS = (events_cli, demo_cli, templates_cli, staff_cli, config_cli, mail_cli, migrations_cli)


def register(app: Flask) -> None:
    """Add the command groups to the app's `flask` command line."""
    for group in GROUPS:
        app.cli.add_command(group)
