"""What a database error means: the database is out of reach, a conflict worth another try, or the statement's fault.

Only an outage may stall work until the database is back. A conflict (a deadlock, a serialisation failure, a
busy SQLite file) passes if the transaction runs again. Anything else (too many SQL variables, a program limit,
a data error) fails the same way every time: the planner isolates its event as poison rather than retry it.
"""

import logging
import random
import time
from enum import Enum

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from webapp.extensions import db

log = logging.getLogger(__name__)


class Meaning(str, Enum):
    """What a database error says: it is unreachable, two transactions clashed (retry), or this work is at fault."""

    OUTAGE = "outage"
    CONFLICT = "conflict"
    FAULT = "fault"


# PostgreSQL SQLSTATEs (Appendix A of its manual): connection exceptions, insufficient resources, shutdowns.
PG_OUTAGE_PREFIXES = ("08", "53", "57P")
# Serialisation failure, deadlock detected, lock not available, statement cancelled (a lock or statement timeout).
PG_CONFLICTS = {"40001", "40P01", "55P03", "57014"}
# SQLite result codes by name (sqlite3 errors carry it since Python 3.11).
SQLITE_OUTAGES = ("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_NOMEM", "SQLITE_READONLY")
SQLITE_CONFLICTS = ("SQLITE_BUSY", "SQLITE_LOCKED")
RETRIES, FIRST_PAUSE_SECONDS = 5, 0.05


def meaning(error: BaseException) -> Meaning:
    """Classify an exception raised by a statement or a commit."""
    if isinstance(error, InterfaceError):
        return Meaning.OUTAGE
    if not isinstance(error, DBAPIError):
        return Meaning.FAULT
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    name = getattr(original, "sqlite_errorname", None)
    if name is not None:
        return sqlite_meaning(name)
    if sqlstate is None:
        # psycopg gives no SQLSTATE when the server never answered: refused, reset, or gone mid-statement.
        return Meaning.OUTAGE if isinstance(error, OperationalError) else Meaning.FAULT
    if sqlstate in PG_CONFLICTS:
        return Meaning.CONFLICT
    return Meaning.OUTAGE if sqlstate.startswith(PG_OUTAGE_PREFIXES) else Meaning.FAULT


def sqlite_meaning(name: str) -> Meaning:
    """Classify an SQLite result code by name."""
    if name.startswith(SQLITE_CONFLICTS):
        return Meaning.CONFLICT
    return Meaning.OUTAGE if name.startswith(SQLITE_OUTAGES) else Meaning.FAULT


def is_fault(error: BaseException) -> bool:
    """Whether the error would come back on every try: the work's own fault, not the database's state."""
    return meaning(error) is Meaning.FAULT


def retrying(work, *args, **kwargs):
    """Run one transaction's work, rolling back and running it again after a conflict; re-raise anything else.

    work must start and commit its own transaction, so running it again repeats all of it or none.
    """
    attempt = 0
    while True:
        try:
            return work(*args, **kwargs)
        except DBAPIError as error:
            db.session.rollback()
            attempt += 1
            if meaning(error) is not Meaning.CONFLICT or attempt > RETRIES:
                raise
            log.warning("database conflict, trying again (%d of %d): %s", attempt, RETRIES, error.orig)
            time.sleep(FIRST_PAUSE_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
