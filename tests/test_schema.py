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
    from tests.factories import booking_payload, envelope, notifications, post

    post(client, envelope("booking.created", booking_payload()))
    for row in notifications():
        assert row.scheduled_at.utcoffset().total_seconds() == 0
        assert row.created_at.tzinfo is not None
