"""why a provider reported what it did: a bounce's reason, as sisimai names it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 02:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("delivery_reports") as table:
        table.add_column(sa.Column("reason", sa.String(32), nullable=True))
    op.create_index("ix_delivery_reports_reason_at", "delivery_reports", ["reason", "at"])


def downgrade():
    op.drop_index("ix_delivery_reports_reason_at", "delivery_reports")
    with op.batch_alter_table("delivery_reports") as table:
        table.drop_column("reason")
