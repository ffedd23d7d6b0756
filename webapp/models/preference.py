"""What a recipient wants to hear about, and where: opt-ins and opt-outs by channel and category."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow

ANY = "*"  # a preference for every channel, or every category


class Preference(db.Model):
    """One opt-in or opt-out; the most specific one for a channel and category wins."""

    __tablename__ = "preferences"
    __table_args__ = (UniqueConstraint("recipient_id", "channel", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(32), default=ANY)
    category: Mapped[str] = mapped_column(String(32), default=ANY)
    opted_in: Mapped[bool]
    # Who set it: "unsubscribe link", "event <id>", or a staff member.
    source: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Preference {self.recipient_id} {self.channel}/{self.category} {'in' if self.opted_in else 'out'}>"
