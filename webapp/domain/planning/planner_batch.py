"""One planner batch: the people and bookings its events share, and the messages planned but not yet written.

Planning an event costs a handful of statements when done alone. In a batch, the people and bookings
are loaded once for all its events and the planned messages are inserted together, so a batch costs
about as many statements as one event did. Anything that is about to read notifications from SQL
writes the pending ones first (notifications.write_pending), so the rules see what a one-at-a-time
planner would have seen.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import select

from webapp.extensions import db


@dataclass
class Batch:
    """What the events of one planner transaction have loaded and planned so far."""

    # By model, then platform id: the row, or None when SQL has none.
    rows: dict[type, dict[str, object]] = field(default_factory=dict)
    unwritten: list = field(default_factory=list)  # Plans whose messages are not in SQL yet


CURRENT: ContextVar[Batch | None] = ContextVar("bellhop_planner_batch", default=None)


@contextmanager
def opened() -> Iterator[Batch]:
    """Make a fresh batch current for the block: one transaction's worth of events."""
    token = CURRENT.set(Batch())
    try:
        yield CURRENT.get()
    finally:
        CURRENT.reset(token)


def current() -> Batch | None:
    """The batch being planned, or None outside the planner."""
    return CURRENT.get()


def loaded(model, external_ids: list[str]) -> dict:
    """The rows of a model with these platform ids that exist: from the batch when it has them, else SQL."""
    known = CURRENT.get().rows.setdefault(model, {}) if CURRENT.get() else {}
    missing = [external_id for external_id in external_ids if external_id not in known]
    if missing:
        fetched = {
            row.external_id: row for row in db.session.scalars(select(model).where(model.external_id.in_(missing)))
        }
        for external_id in missing:
            remember(model, external_id, fetched.get(external_id))
        known = {**known, **fetched}
    return {external_id: known[external_id] for external_id in external_ids if known.get(external_id) is not None}


def remember(model, external_id: str, row) -> None:
    """Keep a row (or that there is none) for the rest of the batch."""
    if CURRENT.get():
        CURRENT.get().rows.setdefault(model, {})[external_id] = row
