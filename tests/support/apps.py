"""Bellhop apps bound to the test servers, and the schema and rows they work on."""

import os

from flask_migrate import upgrade
from sqlalchemy import delete

from webapp import create_app
from webapp.commands import migrations
from webapp.extensions import db
from webapp.flask_config import database_url, load_config

# The environment's settings in test mode (the built-in SECRET_KEY is fine here), with the tests' secrets.
TestConfig = type(
    "TestConfig",
    (load_config(BELLHOP_ENV="test"),),
    {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url(os.environ.get("TEST_DATABASE_URL", "sqlite://")),
        "WEBHOOK_SECRETS": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "OUTBOUND_WEBHOOK_SECRET": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "CHANNELS": ["log"],
        # The tests' receivers listen on loopback; only they are let through.
        "WEBHOOK_ALLOWLIST": ["127.0.0.1"],
        "RETRY_BASE_SECONDS": 1,
        "RETRY_MAX_SECONDS": 2,
        "LEASE_SECONDS": 30,
    },
)


def config_for(database: str, redis: str, **overrides) -> type:
    """Return a TestConfig subclass pointing at these servers."""
    settings = {"SQLALCHEMY_DATABASE_URI": database, "REDIS_URL": redis, **overrides}
    return type("BoundTestConfig", (TestConfig,), settings)


def migrate(url: str) -> None:
    """Build the schema the way a release does: from the migrations."""
    app = create_app(config_for(url, "redis://127.0.0.1:1/0"))
    migrations.prepare(app)
    with app.app_context():
        upgrade()
        db.engine.dispose()


def clear_tables() -> None:
    """Delete every row, children first."""
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(delete(table))
    db.session.commit()
