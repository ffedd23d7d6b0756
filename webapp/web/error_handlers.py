"""Errors with a clear reason and the right status, never a stack trace: JSON for programs, a page for people."""

import logging

from flask import Flask, jsonify, make_response
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.exceptions import ClientDisconnected, HTTPException

from webapp.domain.accepting.events import InvalidEvent
from webapp.extensions import db
from webapp.plumbing import metrics
from webapp.plumbing.signatures import BadSignature
from webapp.web import error_pages

log = logging.getLogger(__name__)


def error(status: int, message: str, exc: Exception | None = None, **headers):
    """Build the error response: an HTML page for a person's browser, JSON for everyone else."""
    if error_pages.wants_html():
        response = make_response(error_pages.page(status, message, exc))
    else:
        response = jsonify(error=message)
        response.status_code = status
    response.headers.update(headers)
    return response


def register_errorhandlers(app: Flask) -> None:
    """Map Bellhop's failures to the statuses senders act on."""

    @app.errorhandler(InvalidEvent)
    def invalid_event(exc):
        # The platform sent something Bellhop cannot take: its team needs to hear of it.
        db.session.rollback()
        log.warning("event refused: %s", exc)
        return error(400, str(exc))

    @app.errorhandler(BadSignature)
    def bad_signature(exc):
        log.warning("webhook refused: bad signature: %s", exc)
        metrics.EVENTS.labels("webhook", "unknown", "bad_signature").inc()
        return error(401, f"bad signature: {exc}")

    @app.errorhandler(DataError)
    def unstorable(exc):
        # The database refused a value of the request (found by schemathesis): retrying cannot help.
        db.session.rollback()
        log.warning("value refused by the database: %s", exc.orig)
        return error(400, "a value in the event cannot be stored: " + str(exc.orig).splitlines()[0][:200])

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def database_unavailable(exc):
        # The sender retries on 503; nothing was committed.
        db.session.rollback()
        log.warning("database unavailable: %s: %s", exc.__class__.__name__, str(exc.orig).splitlines()[0][:200])
        return error(503, "database unavailable, retry later", **{"Retry-After": "5"})

    @app.errorhandler(ClientDisconnected)
    def body_cut_short(exc):
        # The client stopped sending (or went silent past the web worker's timeout) before the body was in.
        return error(408, "the request body did not arrive in full; nothing was stored", exc)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        # Keep the exception's own headers: a 405 must say which methods are Allowed (RFC 9110).
        headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
        return error(exc.code, exc.description, exc, **headers)

    @app.errorhandler(Exception)
    def unexpected(exc):
        # A bug: roll back so nothing half-written survives, log it, and say no more than that.
        db.session.rollback()
        log.exception("unhandled error")
        return error(500, "internal error; nothing was stored")
