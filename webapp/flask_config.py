"""Configuration: the validated settings, as the Flask config every process runs with."""

import ipaddress
import re
import sys
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr, ValidationError

from webapp.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Signs sessions and unsubscribe links on a laptop or in tests; production refuses it.
BUILT_IN_SECRET_KEY = "dev-only-not-secret"
SHORTEST_SECRET_KEY = 32
# Production names its backing services and public address itself: each default suits one laptop, and on a
# platform would quietly give every machine its own SQLite file and Redis, refuse every webhook, and send
# people links to 127.0.0.1.
REQUIRED_IN_PRODUCTION = {
    "DATABASE_URL": "the database every process shares, e.g. postgresql://user:pass@host/db",
    "REDIS_URL": "the Redis every process shares, e.g. rediss://:pass@host:6380",
    "WEBHOOK_SECRETS": "the platform's webhook signing secret; without one every webhook is refused",
    "PUBLIC_URL": "where people reach this app; unsubscribe links and provider callbacks point there",
}
# A URL's password (up to the last @ before the host) and query parameters that look like credentials.
URL_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^/\s]*@")
CREDENTIAL_PARAMETER = re.compile(r"(?i)([?&][^=&#]*(?:pass|secret|token|key|auth|sig)[^=&#]*=)[^&#]*")


class ConfigurationError(ValueError):
    """Settings a process must not start with; the message names each one and what it allows."""


def database_url(url: str | None) -> str:
    """Return a SQLAlchemy URL, defaulting to the embedded SQLite file."""
    if not url:
        return f"sqlite:///{PROJECT_ROOT / 'instance' / 'bellhop.db'}"
    # Heroku-style URLs name the scheme "postgres"; psycopg 3 needs its own driver name.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(**overrides) -> Settings:
    """Read and check the environment's settings; raise ConfigurationError listing every problem."""
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        raise ConfigurationError(problem_list(error)) from None
    problems = production_problems(settings)
    if problems:
        raise ConfigurationError("\n".join(["Bellhop's configuration has problems:", *problems]))
    return settings


@contextmanager
def stopping_on_bad_settings():
    """Exit non-zero with the list of problems, not a traceback: the form an operator reads in a release log."""
    try:
        yield
    except ConfigurationError as error:
        sys.exit(str(error))


def problem_list(error: ValidationError) -> str:
    """One line per bad setting: its variable, what is wrong, and (unless secret) the value given."""
    lines = ["Bellhop's configuration has problems:"]
    for problem in error.errors(include_url=False):
        name = all_names(str(problem["loc"][0])) if problem["loc"] else "settings"
        given = problem.get("input")
        shown = "" if "SECRET" in name or "TOKEN" in name or "PASSWORD" in name else f" (got {masked(given)!r})"
        lines.append(f"  {name}: {problem['msg'].removeprefix('Value error, ')}{shown}")
    return "\n".join(lines)


def masked(value):
    """A value as it may be shown: any URL's password and credential-like query parameters replaced by ***."""
    if not isinstance(value, str):
        return value
    return CREDENTIAL_PARAMETER.sub(r"\1***", URL_PASSWORD.sub(r"\1***@", value))


def production_problems(settings: Settings) -> list[str]:
    """Production needs a SECRET_KEY of its own and every backing service and public address set."""
    if settings.BELLHOP_ENV != "production":
        return []
    unset = [
        f"  {variable_name(field)}: unset; production needs {why}"
        for field, why in REQUIRED_IN_PRODUCTION.items()
        if field not in settings.model_fields_set or not getattr(settings, field)
    ]
    return secret_key_problems(settings) + unset + transport_problems(settings)


def transport_problems(settings: Settings) -> list[str]:
    """Secrets that production would send where others can read them."""
    problems = []
    if settings.SMTP_PASSWORD and settings.SMTP_SECURITY == "none" and not on_this_machine(settings.SMTP_HOST):
        problems.append(
            f"  SMTP_SECURITY: none would send SMTP_PASSWORD unencrypted to {settings.SMTP_HOST}; use starttls or ssl"
        )
    if settings.PUBLIC_URL.startswith("https://") and not settings.SECURE_COOKIES:
        problems.append(
            "  BELLHOP_SECURE_COOKIES: off while BELLHOP_PUBLIC_URL is https, so a sign-in cookie could also travel "
            "over plain http; set it to 1"
        )
    return problems


def on_this_machine(host: str) -> bool:
    """Whether a host name or address is this machine's loopback."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_key_problems(settings: Settings) -> list[str]:
    """A SECRET_KEY of production's own: set, not the built-in one, and long enough."""
    key = settings.SECRET_KEY.get_secret_value() if settings.SECRET_KEY else ""
    if not key or key == BUILT_IN_SECRET_KEY:
        return ["  SECRET_KEY: unset; set it to a long random value, or BELLHOP_ENV=local on a laptop"]
    if len(key) < SHORTEST_SECRET_KEY:
        return [
            f"  SECRET_KEY: {len(key)} characters is too short to sign sessions; "
            f"use at least {SHORTEST_SECRET_KEY} random ones"
        ]
    return []


def flask_config(settings: Settings) -> dict:
    """The settings as Flask config keys, with the values Flask and its extensions expect."""
    values = {name: plain(value) for name, value in settings}
    values.update(
        SECRET_KEY=values["SECRET_KEY"] or BUILT_IN_SECRET_KEY,
        SQLALCHEMY_DATABASE_URI=database_url(settings.DATABASE_URL),
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        # Dashboard cookies are out of scripts' reach, not sent on cross-site posts, and Secure when asked.
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.SECURE_COOKIES,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.SECURE_COOKIES,
    )
    return values


def plain(value):
    """A setting's value with secrets unwrapped, as the code that uses it needs."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def load_config(**overrides) -> type:
    """The checked settings as a class for `app.config.from_object` (tests subclass it to override)."""
    return type("Config", (), flask_config(load_settings(**overrides)))


def described(settings: Settings) -> list[tuple[str, str]]:
    """Each setting and its effective value, secrets masked, for `flask config check`."""
    rows = []
    for field, value in settings:
        name = variable_name(field)
        if isinstance(value, SecretStr) and name == "AMQP_URL":
            shown = masked(value.get_secret_value())
        elif isinstance(value, SecretStr) or (isinstance(value, list) and value and isinstance(value[0], SecretStr)):
            shown = "(set, hidden)"
        elif name == "DATABASE_URL" and value:
            shown = masked(database_url(value))  # the URL the app connects with, driver named
        elif name == "REDIS_URL" and value:
            shown = masked(value)
        else:
            shown = "(unset)" if value is None else str(value)
        rows.append((name, shown))
    return rows


def all_names(variable: str) -> str:
    """A variable with its other accepted name, if it has one: 'SMTP_TIMEOUT_SECONDS (or SMTP_TIMEOUT)'."""
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if alias is not None and not isinstance(alias, str) and variable in alias.choices:
            first, *others = alias.choices
            return f"{first} (or {', '.join(others)})"
    return variable


def variable_name(field: str) -> str:
    """The environment variable a setting is read from (its first name, when it has several)."""
    alias = Settings.model_fields[field].validation_alias
    if alias is None:
        return field
    return alias if isinstance(alias, str) else alias.choices[0]
