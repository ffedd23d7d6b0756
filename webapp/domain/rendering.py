"""Rendering a notification's subject and body from its templates."""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from webapp.config import PROJECT_ROOT
from webapp.models import Notification

TEMPLATE_ROOT = PROJECT_ROOT / "templates" / "notifications"


class RenderError(Exception):
    """A notification's templates are missing or failed to render."""


@dataclass
class Rendered:
    """A message's text as it will be sent."""

    subject: str
    body: str


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """Return the sandboxed Jinja2 environment for message templates, built once per process."""
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATE_ROOT)),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )
    env.filters["local"] = local_time
    return env


def zone(name: str | None) -> ZoneInfo:
    """Return a recipient's zone, falling back to UTC for an unknown name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(moment: datetime | None, tz: str = "UTC", fmt: str = "%a %d %b %Y, %H:%M %Z") -> str:
    """Format an aware datetime in a recipient's timezone."""
    if moment is None:
        return "(time not set)"
    return moment.astimezone(zone(tz)).strftime(fmt)


def template_names(kind: str, channel: str) -> list[str]:
    """Return the body templates to try, most specific first."""
    return [f"{kind}/{channel}.txt", f"{kind}/default.txt"]


def context(notification: Notification) -> dict:
    """Return the variables a message template may use."""
    booking, recipient = notification.booking, notification.recipient
    other = None
    if booking is not None:
        other = booking.expert if booking.client_id == recipient.id else booking.client
    return {
        "recipient": recipient,
        "booking": booking,
        "other": other,
        "tz": recipient.timezone or "UTC",
        "data": notification.data or {},
        "notification": notification,
    }


def render(notification: Notification) -> Rendered:
    """Render subject and body in the recipient's timezone."""
    env, kind = environment(), notification.type.value
    values = context(notification)
    try:
        subject = env.get_template(f"{kind}/subject.txt").render(values).strip()
        body = env.select_template(template_names(kind, notification.channel)).render(values).strip()
    except TemplateNotFound as missing:
        raise RenderError(f"no template {missing.name} for {kind}/{notification.channel}") from None
    except Exception as failure:  # a template bug must fail this message, not the worker
        raise RenderError(f"template for {kind}/{notification.channel} failed: {failure}") from None
    return Rendered(subject=subject, body=body)
