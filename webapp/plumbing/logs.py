"""Logging for every process: JSON lines or readable text, each line naming its request or job, never forgeable.

Event data reaches log lines (a contact's name through the log channel, an invalid event's reason), so
control characters are escaped: no name can end a line and start a fake one, or move a terminal's cursor.
"""

import logging
import logging.config
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter
from rq import get_current_job

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(context)s]: %(message)s"
JSON_FORMAT = "{levelname}{name}{message}"
CONTEXT_KEYS = ("request_id", "job_id", "notification_id", "booking_id", "event_id")
# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
# RQ and rq-scheduler write INFO lines for every job and every poll ("Job OK", "Listening on", the job's call,
# the result kept), worded differently from release to release. So every INFO line of theirs is routine
# (DEBUG) unless it says a process started, stopped or gave up: those stay INFO. Warnings and errors stay.
LIFECYCLE = ("started", "shut down", "shutting down", "stopping", "quitting", "birth", "death", "killed", "suspended")

bound: ContextVar[tuple[tuple[str, object], ...]] = ContextVar("log_context", default=())


@contextmanager
def context(**ids) -> Iterator[None]:
    """Name these ids (notification, booking, event) on every line logged inside the block."""
    merged = {**dict(bound.get()), **{key: value for key, value in ids.items() if value is not None}}
    token = bound.set(tuple(merged.items()))
    try:
        yield
    finally:
        bound.reset(token)


def escaped(text: str) -> str:
    """Text with control characters written as escapes: '\\n', '\\x1b'."""
    return CONTROL.sub(lambda found: found[0].encode("unicode_escape").decode("ascii"), text)


def incoming_request_id() -> str:
    """The proxy's X-Request-ID when it is a sane token, else a new one."""
    given = request.headers.get("X-Request-ID", "")
    return given if REQUEST_ID.match(given) else secrets.token_hex(16)


class ContextFilter(logging.Filter):
    """Add the request id, the RQ job id and the bound ids to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = dict(bound.get())
        if has_request_context() and "request_id" in g:
            ids["request_id"] = g.request_id
        job = get_current_job()
        if job is not None:
            ids["job_id"] = job.id
        for key in CONTEXT_KEYS:
            setattr(record, key, ids.get(key))
        record.context = " ".join(f"{key}={ids[key]}" for key in CONTEXT_KEYS if key in ids) or "-"
        return True


class Demote(logging.Filter):
    """Turn routine INFO lines into DEBUG ones: RQ's for every job, gunicorn's for every successful request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and is_routine(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def is_routine(record: logging.LogRecord) -> bool:
    """Whether a record is RQ's line for a job or a poll, or an access line below 400."""
    if record.name == "gunicorn.access":
        status = str(record.args["s"])
        return status.isdigit() and int(status) < 400
    message = record.getMessage().lower()
    return not any(marker in message for marker in LIFECYCLE)


class TextFormatter(logging.Formatter):
    """One readable line per record; the message's control characters escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escaped(record.message)
        return super().formatMessage(record)


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line; JSON itself escapes control characters, so no line can be forged."""

    def __init__(self):
        rename = {"levelname": "level", "name": "logger"}
        super().__init__(JSON_FORMAT, style="{", rename_fields=rename, timestamp="time")

    def process_log_record(self, log_data: dict) -> dict:
        log_data.pop("context", None)
        return {key: value for key, value in log_data.items() if value is not None}


def init_app(app) -> None:
    """Give every request an id (the proxy's X-Request-ID, or a new one) and return it in the response."""

    @app.before_request
    def take_request_id():
        g.request_id = incoming_request_id()

    @app.after_request
    def return_request_id(response):
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
        return response


def configure_from(config) -> None:
    """Configure this process's logging from its settings."""
    logging.config.dictConfig(dict_config(config))


def dict_config(config) -> dict:
    """Logging for these settings, as a dictConfig (gunicorn's logconfig_dict takes the same).

    JSON lines in production unless LOG_FORMAT says otherwise; LOG_LEVEL for every logger.
    """
    level = config["LOG_LEVEL"]
    fmt = config["LOG_FORMAT"] or ("json" if config["BELLHOP_ENV"] == "production" else "text")
    formatter = {"()": JsonLineFormatter} if fmt == "json" else {"()": TextFormatter, "fmt": TEXT_FORMAT}
    demoted = {"level": level, "handlers": [], "propagate": True, "filters": ["routine"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}, "routine": {"()": Demote}},
        "formatters": {"bellhop": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "bellhop",
                "filters": ["context"],
                "level": level,
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            # Alembic names each of its plugins at INFO as `flask db` imports it: noise in a release log.
            "alembic.runtime.plugins": {"level": "WARNING", "handlers": [], "propagate": True},
            **{name: demoted for name in ("gunicorn.access", "rq.worker", "rq_scheduler.scheduler")},
        },
    }
