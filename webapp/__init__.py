"""Bellhop's Flask application factory."""

from flask import Flask

from webapp.config import PROJECT_ROOT, Config


def create_app(config_class: type = Config) -> Flask:
    """Create and configure a Bellhop app."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.from_object(config_class)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind the shared extensions to this app."""
    from webapp import models  # noqa: F401  (registers the tables with the metadata)
    from webapp.extensions import db, engine_options, migrate

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)


def register_blueprints(app: Flask) -> None:
    """Mount the HTTP entry points."""
    from webapp.blueprints import health, unsubscribe, webhooks

    app.register_blueprint(webhooks.bp)
    app.register_blueprint(unsubscribe.bp)
    app.register_blueprint(health.bp)


def register_errorhandlers(app: Flask) -> None:
    """Answer errors as JSON with the right status."""
    from webapp import errors

    errors.register_errorhandlers(app)


def register_commands(app: Flask) -> None:
    """Add Bellhop's flask CLI commands."""
    from webapp import cli

    cli.init_app(app)
