"""Limits on what a message template may cost: a render deadline, bounded ranges, repetition and powers.

Jinja's sandbox already refuses unsafe attributes (`''.__class__.__mro__`, `|attr('__globals__')`) and
ranges over 100,000; it does not stop nested loops or huge repetitions, which could hold a worker forever.
"""

import re
import time
from contextvars import ContextVar

from jinja2.sandbox import SandboxedEnvironment, SecurityError, safe_range

RENDER_SECONDS = 1.0
MAX_REPEAT = 10_000  # 'x' * n, [..] * n
MAX_EXPONENT = 64
MAX_OUTPUT = 64_000  # characters in a subject or body
CHECK_EVERY = 1_000  # range items between deadline checks
MAX_WIDTH_DIGITS = 4
# A printf width, or a str.format width, of five digits or more: "%100000s", "{:>100000}".
WIDE_FORMAT = re.compile(r"%[-+ #0]*\d{5,}|\{[^}]*:[^}]*\d{5,}")

deadline: ContextVar[float] = ContextVar("template_deadline", default=float("inf"))


class LimitedSandbox(SandboxedEnvironment):
    """The sandbox, plus limits on repetition, powers and, through range(), time."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.globals.pop("lipsum", None)  # lipsum(n=10**6) would write a million paragraphs
        for name in ("center", "indent", "format"):
            self.filters[name] = bounded(self.filters[name])

    def wrap_str_format(self, value):
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and isinstance(value.__self__, str) and WIDE_FORMAT.search(value.__self__):
            raise SecurityError(f"a format width over {MAX_WIDTH_DIGITS} digits is not allowed")
        return wrapped

    def call_binop(self, context, operator, left, right):
        if operator == "%" and isinstance(left, str) and WIDE_FORMAT.search(left):
            raise SecurityError(f"a format width over {MAX_WIDTH_DIGITS} digits is not allowed")
        if operator == "**" and isinstance(right, int) and right > MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is over the limit of {MAX_EXPONENT}")
        if operator == "*" and isinstance(left, (str, list, tuple)) + isinstance(right, (str, list, tuple)) == 1:
            count = right if isinstance(right, int) else left
            if isinstance(count, int) and count > MAX_REPEAT:
                raise SecurityError(f"repeating {count} times is over the limit of {MAX_REPEAT}")
        return super().call_binop(context, operator, left, right)


def bounded(text_filter):
    """A filter whose numeric arguments (widths) and format strings are kept small."""

    def limited(*args, **kwargs):
        for value in (*args[1:], *kwargs.values()):
            if isinstance(value, int) and value > MAX_REPEAT:
                raise SecurityError(f"a width of {value} is over the limit of {MAX_REPEAT}")
        if isinstance(args[0], str) and WIDE_FORMAT.search(args[0]):
            raise SecurityError(f"a format width over {MAX_WIDTH_DIGITS} digits is not allowed")
        return text_filter(*args, **kwargs)

    return limited


def timed_range(*args):
    """range() that stops the render once the template has run out of time."""
    for index, value in enumerate(safe_range(*args)):
        if index % CHECK_EVERY == 0 and time.monotonic() > deadline.get():
            raise SecurityError(f"the template ran longer than {RENDER_SECONDS} s")
        yield value


def start_clock() -> object:
    """Give the render about to start its deadline; returns the token to reset it."""
    return deadline.set(time.monotonic() + RENDER_SECONDS)


def check_output(text: str) -> str:
    """Refuse a rendered text too long for any channel to carry."""
    if len(text) > MAX_OUTPUT:
        raise SecurityError(f"the rendered text is {len(text)} characters, over the limit of {MAX_OUTPUT}")
    return text
