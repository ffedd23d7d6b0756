"""indexes for the dashboard's list in scheduled order

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 04:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WITH_ERROR = sa.text("last_error IS NOT NULL")


def upgrade():
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_index("ix_notifications_status_scheduled_at")
        batch_op.create_index("ix_notifications_status_scheduled_at_id", ["status", "scheduled_at", "id"])
        batch_op.create_index("ix_notifications_scheduled_at_id", ["scheduled_at", "id"])
        batch_op.create_index("ix_notifications_with_error", ["scheduled_at", "id"], sqlite_where=WITH_ERROR,
                              postgresql_where=WITH_ERROR)


def downgrade():
    with op.batch_alter_table("notifications") as batch_op:
        batch_op.drop_index("ix_notifications_with_error")
        batch_op.drop_index("ix_notifications_scheduled_at_id")
        batch_op.drop_index("ix_notifications_status_scheduled_at_id")
        batch_op.create_index("ix_notifications_status_scheduled_at", ["status", "scheduled_at"])
