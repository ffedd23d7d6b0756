"""Bellhop apps bound to the test servers, and the schema and rows they work on."""

from flask_migrate import upgrade
from sqlalchemy import delete

from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db


def config_for(database: str, redis: str, **overrides) -> type:
    """Return a TestConfig subclass pointing at these servers."""
    settings = {"SQLALCHEMY_DATABASE_URI": database, "REDIS_URL": redis, **overrides}
    return type("BoundTestConfig", (TestConfig,), settings)


def migrate(url: str) -> None:
    """Build the schema the way a release does: from the migrations."""
    app = create_app(config_for(url, "redis://127.0.0.1:1/0"))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def clear_tables() -> None:
    """Delete every row, children first."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(delete(table))
    db.session.commit()
