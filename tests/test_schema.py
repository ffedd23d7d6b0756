"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from webapp.extensions import db


def test_models_and_migrations_do_not_drift(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_timestamps_come_back_timezone_aware(client):
    from tests.support.factories import booking_payload, envelope, notifications, post_and_plan

    post_and_plan(client, envelope("booking.created", booking_payload()))
    for row in notifications():
        assert row.scheduled_at.utcoffset().total_seconds() == 0
        assert row.created_at.tzinfo is not None


def test_postgresql_connections_plan_every_statement_instead_of_keeping_generic_plans():
    from webapp.extensions import engine_options

    postgres = engine_options(
        {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@h/db", "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}}
    )
    assert postgres == {"pool_pre_ping": True, "connect_args": {"prepare_threshold": None}}
    assert "connect_args" not in engine_options({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_sqlite_connections_use_wal_with_normal_sync(tmp_path):
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
