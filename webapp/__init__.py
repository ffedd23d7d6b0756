"""Bellhop's Flask application factory."""

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import commands, models  # noqa: F401  (models: registers the tables with the metadata)
from webapp.extensions import csrf, db, engine_options, login_manager
from webapp.flask_config import PROJECT_ROOT, load_config
from webapp.plumbing import logs
from webapp.web import admin, error_handlers, origin_check, security_headers
from webapp.web.blueprints import auth, dashboard, health, prometheus, provider_hooks, unsubscribe, webhooks
from webapp.web.query_args import RowId


def create_app(config_class: type | None = None) -> Flask:
    """Create and configure a Bellhop app; without a config class, from the checked environment."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.from_object(config_class or load_config())
    app.url_map.converters["id"] = RowId
    trust_proxies(app)
    register_extensions(app)
    register_blueprints(app)
    error_handlers.register_errorhandlers(app)
    commands.register(app)
    return app


def trust_proxies(app: Flask) -> None:
    """Take the client's address and scheme from the forwarding headers of the trusted proxies only."""
    hops = app.config["PROXY_HOPS"]
    if hops:
        # Host is left alone: routers pass it through, so an X-Forwarded-Host could only come from a client.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)


def register_extensions(app: Flask) -> None:
    """Bind the shared extensions to this app."""
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    logs.init_app(app)
    origin_check.init_app(app)
    security_headers.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Mount the HTTP entry points."""
    # The webhook is authenticated by its signature, providers' callbacks by theirs, and unsubscribe links
    # by theirs; mail clients' one-click POSTs carry no form token. Every other POST needs the CSRF token.
    csrf.exempt(webhooks.bp)
    csrf.exempt(provider_hooks.bp)
    csrf.exempt(unsubscribe.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(provider_hooks.bp)
    app.register_blueprint(unsubscribe.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(prometheus.bp)
    admin.init_app(app)
