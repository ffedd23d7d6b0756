"""Signed unsubscribe links: they work without a login, and only for the recipient they were made for."""

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

SALT = "bellhop-unsubscribe"


class InvalidLink(Exception):
    """The link was not made by this Bellhop (or was altered)."""


def serializer() -> URLSafeSerializer:
    # No expiry on purpose: an unsubscribe link in an old email must keep working.
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def token(recipient_id: int, channel: str, category: str) -> str:
    """Sign who and what a link unsubscribes."""
    return serializer().dumps([recipient_id, channel, category])


def read(value: str) -> tuple[int, str, str]:
    """Return (recipient_id, channel, category) from a token, or raise InvalidLink."""
    try:
        recipient_id, channel, category = serializer().loads(value)
    except (BadSignature, ValueError, TypeError):
        raise InvalidLink("this unsubscribe link is not valid") from None
    return int(recipient_id), str(channel), str(category)


def link(recipient_id: int, channel: str, category: str) -> str:
    """The public URL of an unsubscribe link."""
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}/unsubscribe/{token(recipient_id, channel, category)}"
