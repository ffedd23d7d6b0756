"""`flask config check`: the effective configuration, secrets masked; a bad one never gets this far."""

import click
from flask.cli import AppGroup

from webapp.flask_config import described, load_settings

config_cli = AppGroup("config", help="Bellhop's configuration.")


@config_cli.command("check")
def check() -> None:
    """Print every setting's effective value (secrets masked); exit non-zero when one is wrong."""
    # Loading the app already checked the settings; read them again to show what this process sees.
    rows = described(load_settings())
    width = max(len(name) for name, _ in rows)
    for name, shown in rows:
        click.echo(f"{name.ljust(width)}  {shown}")
    click.echo("configuration ok")
