"""status changes made off the delivery path

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 04:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

STATUSES = ("pending", "queued", "processing", "sent", "failed", "cancelled", "suppressed", "expired")


def upgrade():
    op.create_table(
        "notification_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Enum(*STATUSES, name="notificationstatus", native_enum=False, length=32),
                  nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_history_notification_id", "notification_history", ["notification_id"])


def downgrade():
    op.drop_index("ix_notification_history_notification_id", table_name="notification_history")
    op.drop_table("notification_history")
