"""a durable inbox: events are stored on receipt and planned later, in batches

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 02:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

WAITING = sa.text("outcome IS NULL")


def upgrade():
    with op.batch_alter_table("inbound_events") as table:
        table.alter_column("outcome", existing_type=sa.String(32), nullable=True)
        table.add_column(sa.Column("planned_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("replay_of", sa.String(255), nullable=True))
    op.execute("UPDATE inbound_events SET planned_at = received_at")
    # The planner's claim and the planning lag read only the waiting events: a partial index keeps that cheap.
    op.create_index(
        "ix_inbound_events_waiting", "inbound_events", ["id"], postgresql_where=WAITING, sqlite_where=WAITING
    )
    op.create_table("planner_lock", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("holder", sa.String(64)))
    op.execute("INSERT INTO planner_lock (id, holder) VALUES (1, NULL)")


def downgrade():
    op.drop_table("planner_lock")
    op.drop_index("ix_inbound_events_waiting", table_name="inbound_events")
    op.execute("DELETE FROM inbound_events WHERE outcome IS NULL")
    with op.batch_alter_table("inbound_events") as table:
        table.drop_column("replay_of")
        table.drop_column("planned_at")
        table.alter_column("outcome", existing_type=sa.String(32), nullable=False)
