"""index for the per-recipient hourly cap

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 01:20:00

"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_notifications_recipient_channel_sent_at", "notifications",
                    ["recipient_id", "channel", "sent_at"])


def downgrade():
    op.drop_index("ix_notifications_recipient_channel_sent_at", table_name="notifications")
