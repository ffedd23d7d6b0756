"""what happened after the provider: delivery state and reports, suppressed addresses, fallbacks

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 23:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notifications") as table:
        table.add_column(sa.Column("delivery_state", sa.String(16), nullable=True))
        table.add_column(sa.Column("delivery_detail", sa.Text(), nullable=True))
        table.add_column(sa.Column("delivery_updated_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("provider_ref", sa.String(64), nullable=True))
        table.add_column(sa.Column("replaces_id", sa.Integer(), nullable=True))
        table.create_foreign_key("fk_notifications_replaces_id", "notifications", ["replaces_id"], ["id"])
    op.create_index("ix_notifications_provider_ref", "notifications", ["provider_ref"])
    op.create_index("ix_notifications_replaces_id", "notifications", ["replaces_id"])
    # A person's page: their notifications, newest first, paged by (scheduled_at, id).
    op.create_index("ix_notifications_recipient_scheduled_at_id", "notifications", ["recipient_id", "scheduled_at", "id"])
    op.create_table(
        "delivery_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("notification_id", sa.Integer(), sa.ForeignKey("notifications.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("code", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.UniqueConstraint("notification_id", "source", "state", name="uq_delivery_reports_once"),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("address", sa.String(2000), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("recipient_id", sa.Integer(), sa.ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("channel", "address", name="uq_suppressions_channel_address"),
    )
    op.create_index("ix_suppressions_recipient_id", "suppressions", ["recipient_id"])


def downgrade():
    op.drop_index("ix_suppressions_recipient_id", table_name="suppressions")
    op.drop_table("suppressions")
    op.drop_table("delivery_reports")
    op.drop_index("ix_notifications_recipient_scheduled_at_id", table_name="notifications")
    op.drop_index("ix_notifications_replaces_id", table_name="notifications")
    op.drop_index("ix_notifications_provider_ref", table_name="notifications")
    with op.batch_alter_table("notifications") as table:
        table.drop_constraint("fk_notifications_replaces_id", type_="foreignkey")
        for column in ("replaces_id", "provider_ref", "delivery_updated_at", "delivery_detail", "delivery_state"):
            table.drop_column(column)
