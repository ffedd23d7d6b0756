"""recipient quiet hours

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("recipients") as batch:
        batch.add_column(sa.Column("quiet_hours", sa.String(length=11), nullable=True))


def downgrade():
    with op.batch_alter_table("recipients") as batch:
        batch.drop_column("quiet_hours")
