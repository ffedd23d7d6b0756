"""Addresses Bellhop must not send to: bounced, blocked, complained about or failing."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow


class Suppression(db.Model):
    """One suppressed address on one channel; the address is normalised (E.164, lower-cased email)."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_suppressions_channel_address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(2000))
    reason: Mapped[str] = mapped_column(Text)
    # What reported it: "twilio receipt", "email bounce", "telegram", "webhook failures", a staff member.
    source: Mapped[str] = mapped_column(String(200))
    # The person the address belonged to when it was suppressed, for their page.
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<Suppression {self.channel} {self.address}>"
