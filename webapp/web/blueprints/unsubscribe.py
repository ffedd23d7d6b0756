"""Unsubscribe links: a confirmation page, and the POST that records the opt-out (also RFC 8058 one-click)."""

import logging

from flask import Blueprint, render_template

from webapp.domain.people import preferences, unsubscribe_links
from webapp.extensions import db
from webapp.models import Recipient
from webapp.models.types import utcnow

bp = Blueprint("unsubscribe", __name__)
log = logging.getLogger(__name__)


def resolve(token: str):
    """The recipient, channel and category a link names, or None for a bad link."""
    try:
        recipient_id, channel, category = unsubscribe_links.read(token)
    except unsubscribe_links.InvalidLink:
        return None
    recipient = db.session.get(Recipient, recipient_id)
    if recipient is None or category not in preferences.CATEGORIES:
        return None
    return recipient, channel, category


@bp.get("/unsubscribe/<token>")
def confirm(token: str):
    """Ask first: mail scanners follow links, and a GET must not unsubscribe anyone."""
    found = resolve(token)
    if found is None:
        return page("invalid"), 400
    _, channel, category = found
    return page("confirm", channel, category)


@bp.post("/unsubscribe/<token>")
def unsubscribe_now(token: str):
    """Record the opt-out and suppress what was already planned; one-click clients POST here directly."""
    found = resolve(token)
    if found is None:
        return page("invalid"), 400
    recipient, channel, category = found
    suppressed = preferences.unsubscribe(recipient, channel, category, utcnow())
    log.info(
        "recipient %s unsubscribed from %s on %s; %d planned messages suppressed",
        recipient.external_id,
        category,
        channel,
        suppressed,
    )
    return page("done", channel, category)


def page(state: str, channel: str | None = None, category: str | None = None) -> str:
    """The unsubscribe page in one of its states: invalid, confirm or done."""
    label = preferences.LABELS[category] if category else None
    return render_template("pages/unsubscribe.html", state=state, channel=channel, category=label)
