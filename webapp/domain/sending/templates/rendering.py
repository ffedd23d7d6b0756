"""Rendering a notification's subject and body from its templates, in the recipient's language and zone.

Templates live in templates/notifications/<locale>/<type>/: subject.txt, default.txt, and
<channel>.txt where a channel needs its own text (sms.txt, say). A recipient's locale
falls back from de_AT to de to the default locale, file by file.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal
from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, pass_context

from webapp.domain.sending.templates.limits import LimitedSandbox, check_output, deadline, start_clock, timed_range
from webapp.flask_config import PROJECT_ROOT
from webapp.models import Notification

TEMPLATE_ROOT = PROJECT_ROOT / "templates" / "notifications"
DEFAULT_LOCALE = "en"


class RenderError(Exception):
    """A notification's templates are missing or failed to render."""


@dataclass
class Rendered:
    """A message's text as it will be sent."""

    subject: str
    body: str


@lru_cache(maxsize=1)
def environment() -> LimitedSandbox:
    """Return the sandboxed Jinja2 environment for message templates, built once per process."""
    env = LimitedSandbox(
        loader=FileSystemLoader(str(TEMPLATE_ROOT)),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
    )
    env.filters.update(when=when, clock=clock, money=money)
    env.globals["range"] = timed_range
    return env


def zone(name: str | None) -> ZoneInfo:
    """Return a recipient's zone, falling back to UTC for an unknown name."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def locale_chain(locale: str | None) -> list[str]:
    """Locales to look for templates in, most specific first: de_AT, de, then the default."""
    chain = []
    if locale:
        normal = locale.replace("-", "_")
        chain += [normal, normal.split("_")[0]]
    return list(dict.fromkeys([*chain, DEFAULT_LOCALE]))


@lru_cache(maxsize=8)
def languages(root: Path) -> frozenset[str]:
    """The languages with a folder of templates under root."""
    return frozenset(path.name for path in root.iterdir() if path.is_dir()) if root.is_dir() else frozenset()


def text_locale(locale: str | None) -> str:
    """The locale a message is written in: the recipient's, if we ship their language, else the default.

    Dates and numbers follow it too, so a message never mixes an English sentence with a French date.
    """
    shipped = languages(TEMPLATE_ROOT)
    return next((name for name in locale_chain(locale) if name.split("_")[0] in shipped), DEFAULT_LOCALE)


@lru_cache(maxsize=256)
def babel_locale(locale: str | None) -> Locale:
    """The most specific locale in the chain that Babel knows."""
    for name in locale_chain(locale):
        try:
            return Locale.parse(name)
        except (UnknownLocaleError, ValueError):
            continue
    return Locale.parse(DEFAULT_LOCALE)


def local(context, moment: datetime) -> datetime:
    """The moment in the zone the template is rendering for."""
    return moment.astimezone(zone(context.get("tz")))


@pass_context
def when(context, moment: datetime | None) -> str:
    """A date and time as the recipient reads them: 'Sunday, March 29, 2026, 3:30 AM CEST'."""
    if moment is None:
        return "-"
    at, language = local(context, moment), babel_locale(context.get("locale"))
    return plain(f"{format_date(at, 'full', locale=language)}, {format_time(at, 'short', locale=language)} {at:%Z}")


@pass_context
def clock(context, moment: datetime | None) -> str:
    """A time of day as the recipient reads it: '15:30 CEST' or '3:30 PM EDT'."""
    if moment is None:
        return "-"
    at = local(context, moment)
    return plain(f"{format_time(at, 'short', locale=babel_locale(context.get('locale')))} {at:%Z}")


@pass_context
def money(context, amount, currency: str | None = None) -> str:
    """An amount in the recipient's number format, with its currency when known."""
    language = babel_locale(context.get("locale"))
    if currency:
        return plain(format_currency(amount, currency.upper(), locale=language))
    return plain(format_decimal(amount, format="#,##0.00", locale=language))


def plain(text: str) -> str:
    """Swap CLDR's no-break spaces for plain ones: one U+202F turns a whole SMS into UCS-2, halving it."""
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def template_names(kind: str, channel: str, locale: str | None) -> list[str]:
    """Return the body templates to try, most specific first."""
    return [f"{name}/{kind}/{file}" for name in locale_chain(locale) for file in (f"{channel}.txt", "default.txt")]


def subject_names(kind: str, locale: str | None) -> list[str]:
    """Return the subject templates to try, most specific first."""
    return [f"{name}/{kind}/subject.txt" for name in locale_chain(locale)]


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
        "locale": text_locale(recipient.locale),
        "data": notification.data or {},
        "notification": notification,
    }


def render(notification: Notification) -> Rendered:
    """Render subject and body in the recipient's language and timezone."""
    kind, channel = notification.type.value, notification.channel
    return render_with(kind, channel, context(notification))


def render_with(kind: str, channel: str, values: dict) -> Rendered:
    """Render one type's subject and body for a channel from a template context."""
    env, locale = environment(), values.get("locale")
    token = start_clock()
    try:
        subject = check_output(env.select_template(subject_names(kind, locale)).render(values).strip())
        body = check_output(env.select_template(template_names(kind, channel, locale)).render(values).strip())
    except TemplateNotFound as missing:
        raise RenderError(f"no template {missing.name} for {kind}/{channel}") from None
    except Exception as failure:  # a template bug must fail this message, not the worker
        raise RenderError(f"template for {kind}/{channel} failed: {failure}") from None
    finally:
        deadline.reset(token)
    return Rendered(subject=subject, body=body)
