"""The sign-in cookie: it carries a random token, and the staff sessions table decides what it is worth."""

import secrets

from flask import request, session

from webapp.domain.staff import sessions
from webapp.models import Staff, StaffSession

TOKEN_KEY = "sid"


def begin(account: Staff) -> None:
    """Give this browser a fresh session for the account that just signed in."""
    session.clear()  # a fresh session at login: nothing set before it survives
    token = secrets.token_urlsafe(32)
    session[TOKEN_KEY] = token
    sessions.signed_in(account, token, request.remote_addr)


def current(account: Staff) -> StaffSession | None:
    """This browser's live session of this account, or None."""
    return sessions.live(account, session.get(TOKEN_KEY))


def end(account: Staff) -> None:
    """Sign this browser out: its session row ends, and the cookie is emptied."""
    sessions.signed_out(account, session.get(TOKEN_KEY))
    session.clear()
