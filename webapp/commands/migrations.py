"""`flask db`: Flask-Migrate's commands, imported only when one of them runs.

Flask-Migrate imports Alembic, and Alembic Mako and Pygments: 110 modules, a tenth of every process's start-up.
The web, worker, scheduler and consumer processes never migrate, so only `flask db` pays for them.
"""

import click
from flask import Flask
from flask.cli import ScriptInfo

from webapp.extensions import db
from webapp.flask_config import PROJECT_ROOT

MIGRATIONS = PROJECT_ROOT / "migrations"


def prepare(app: Flask) -> None:
    """Bind Flask-Migrate to the app, for `flask db` and for code that calls flask_migrate.upgrade itself."""
    from flask_migrate import Migrate  # here, not at the top: see the module's docstring

    if "migrate" not in app.extensions:
        Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True)


class MigrationCommands(click.Command):
    """`flask db ...`: hands its arguments to Flask-Migrate's own `db` group, imported only now."""

    def __init__(self):
        super().__init__(
            "db",
            help="Database migrations (Flask-Migrate): upgrade, current, history, ...",
            add_help_option=False,  # `flask db --help` is Flask-Migrate's to answer
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )

    def invoke(self, ctx: click.Context):
        from flask_migrate.cli import db as commands  # here, not at the top: see the module's docstring

        prepare(ctx.ensure_object(ScriptInfo).load_app())
        return commands.main(ctx.args, prog_name=ctx.command_path, obj=ctx.obj, standalone_mode=False)


migrations_cli = MigrationCommands()
