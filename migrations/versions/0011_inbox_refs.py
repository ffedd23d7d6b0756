"""what a waiting event may change: its booking and people, so sends hold back until it is planned

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 23:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ("booking_ref", "person_ref", "other_person_ref")


def upgrade():
    with op.batch_alter_table("inbound_events") as table:
        for column in COLUMNS:
            table.add_column(sa.Column(column, sa.String(64), nullable=True))
    for column in COLUMNS:
        op.create_index(
            f"ix_inbound_events_waiting_{column}",
            "inbound_events",
            [column],
            postgresql_where=sa.text(f"outcome IS NULL AND {column} IS NOT NULL"),
            sqlite_where=sa.text(f"outcome IS NULL AND {column} IS NOT NULL"),
        )


def downgrade():
    for column in COLUMNS:
        op.drop_index(f"ix_inbound_events_waiting_{column}", table_name="inbound_events")
    with op.batch_alter_table("inbound_events") as table:
        for column in COLUMNS:
            table.drop_column(column)
