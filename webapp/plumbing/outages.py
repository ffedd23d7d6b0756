"""An outage of something Bellhop leans on, logged once as it begins and once as it ends, not on every call.

During a Redis outage every accepted webhook failed to wake the planner, and each logged a 3,000-character
traceback: the one line that mattered was lost in them, and the log volume grew with the traffic.
"""

import logging
import threading
import time

from flask import current_app

log = logging.getLogger(__name__)


class Outage:
    """One dependency's state in this process: up, or down since a moment with a count of what failed since."""

    def __init__(self, name: str):
        self.name = name
        self.down_since: float | None = None
        self.failures = 0
        self.lock = threading.Lock()

    def failed(self, what: str, error: Exception) -> None:
        """A call failed: the first failure of an outage is logged with its error, the rest only counted."""
        with self.lock:
            self.failures += 1
            if self.down_since is not None:
                return
            self.down_since = time.monotonic()
        log.warning(
            "%s is unreachable (%s: %s) while trying to %s; logged once until it answers again",
            self.name,
            type(error).__name__,
            error,
            what,
        )

    def answered(self) -> None:
        """A call succeeded: if this ends an outage, say how long it lasted and how much failed meanwhile."""
        if self.down_since is None:  # the usual case, read without the lock
            return
        with self.lock:
            if self.down_since is None:
                return
            lasted, failures = time.monotonic() - self.down_since, self.failures
            self.down_since, self.failures = None, 0
        log.warning("%s answers again after %.0f s; %d calls failed meanwhile", self.name, lasted, failures)


def redis() -> Outage:
    """This app's record of Redis outages (one app a process in production; tests make many)."""
    found = current_app.extensions.get("bellhop_redis_outage")
    if found is None:
        found = current_app.extensions["bellhop_redis_outage"] = Outage("Redis")
    return found
