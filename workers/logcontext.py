"""Stamp the current RQ job and notification on every log record a job writes."""

import logging
from contextvars import ContextVar

from rq import get_current_job

current_notification: ContextVar[int | None] = ContextVar("current_notification", default=None)
FORMAT = "%(asctime)s %(levelname)s %(name)s [job=%(job_id)s notification=%(notification_id)s]: %(message)s"


class JobContextFilter(logging.Filter):
    """Add job_id and notification_id to records, '-' outside a job."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = get_current_job()
        record.job_id = job.id if job else "-"
        record.notification_id = current_notification.get() or "-"
        return True


def configure(level: str) -> None:
    """Log to stderr with the job context on every line."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(JobContextFilter())
    logging.basicConfig(level=level, handlers=[handler])
