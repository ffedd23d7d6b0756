"""Whole numbers and choices from query strings, checked before they reach SQL: a 400 that says why, never a 500."""

import re
from enum import Enum

from flask import abort, request
from werkzeug.routing import IntegerConverter

# The largest id a BIGINT holds; SQLite and PostgreSQL both fail on a bigger literal.
BIGGEST = 2**63 - 1
# At most 19 digits, as many as a BIGINT holds: Python refuses to read a number past 4,300 of them.
DIGITS = re.compile(r"^-?[0-9]{1,19}$")


def whole_number(name: str, smallest: int = 1, largest: int = BIGGEST) -> int | None:
    """The query parameter as a whole number in range; None when absent; a 400 naming it otherwise."""
    value = request.args.get(name)
    if value in (None, ""):
        return None
    if not DIGITS.match(value) or not smallest <= int(value) <= largest:
        abort(400, description=f"{name}: must be a whole number from {smallest} to {largest}")
    return int(value)


def row_ids(values: list[str], name: str, most: int) -> list[int]:
    """Row ids given as text (a form's repeated field, a comma-separated list): 1 to most of them, each in range."""
    if not values or len(values) > most or not all(DIGITS.match(v) and 1 <= int(v) <= BIGGEST for v in values):
        abort(400, description=f"{name}: 1 to {most} row ids, each a whole number from 1 to {BIGGEST}")
    return [int(value) for value in values]


def choice(name: str, allowed: type[Enum]) -> str | None:
    """The query parameter if it is one of an enum's values; None when absent; a 400 listing them otherwise."""
    value = request.args.get(name) or None
    values = [member.value for member in allowed]
    if value is not None and value not in values:
        abort(400, description=f"{name}: must be one of {', '.join(values)}")
    return value


class RowId(IntegerConverter):
    """<id:name> in a URL: a row id a BIGINT can hold, so a longer one is a 404 rather than an SQL overflow."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=BIGGEST)
