"""Paging by id and date filters shared by the dashboard lists."""

from datetime import datetime, timezone

from flask import abort
from sqlalchemy import literal, select, tuple_

from webapp.extensions import db
from webapp.web.query_args import whole_number

PAGE_SIZE = 50


def newest_page(query, model) -> tuple[list, int | None]:
    """One page of rows, newest first, after ?before=<id>, and the id that asks for the next page (or None).

    Paging by id needs no COUNT and no OFFSET, so a page costs the same at row 1,000,000 as at row 1.
    """
    before = whole_number("before")
    if before:
        query = query.where(model.id < before)
    rows = list(db.session.scalars(query.order_by(model.id.desc()).limit(PAGE_SIZE + 1)).unique())
    return rows[:PAGE_SIZE], rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None


def scheduled_page(query, model, column, descending: bool) -> tuple[list, int | None]:
    """One page in column order (ties by id) after the row ?before=<id>, and the id that asks for the next.

    The cursor is a row id; its column value is looked up by primary key, and the page is a range scan
    of a (column, id) index, so a deep page costs what the first does.
    """
    after = whole_number("before")
    mark = db.session.scalar(select(column).where(model.id == after)) if after else None
    if mark is not None:
        key, cursor = tuple_(column, model.id), tuple_(literal(mark, column.type), literal(after))
        query = query.where(key < cursor if descending else key > cursor)
    order = (column.desc(), model.id.desc()) if descending else (column, model.id)
    rows = list(db.session.scalars(query.order_by(*order).limit(PAGE_SIZE + 1)).unique())
    return rows[:PAGE_SIZE], rows[PAGE_SIZE - 1].id if len(rows) > PAGE_SIZE else None


def parse_day(value: str) -> datetime:
    """A YYYY-MM-DD filter value as the start of that UTC day; a 400 names a malformed one."""
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        abort(400, description=f"dates look like 2026-12-24, got {value!r}")
