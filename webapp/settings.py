"""Every setting, typed and checked: a bad value stops the process at start, naming the setting.

Field names are the keys Flask's config uses; the environment variable is the field's alias when the
two differ. Older names of renamed variables stay accepted as a second alias.
"""

import ipaddress
import os
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import (
    AliasChoices,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from webapp.models.contact_fields import KNOWN_CHANNELS
from webapp.models.enums import NotificationType

HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
Words = Annotated[list[str], NoDecode]


def env(*names: str, default=None):
    """A field read from these environment variables, the first one set winning."""
    return Field(default, validation_alias=AliasChoices(*names) if len(names) > 1 else names[0])


def split_words(value) -> list[str]:
    """Split a comma- or space-separated setting into its items."""
    if isinstance(value, str):
        return [item for item in value.replace(",", " ").split() if item]
    return value


def network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """An address or CIDR network as a network (a bare address is a /32 or /128), or None."""
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


def require_scheme(url: str, schemes: set[str]) -> str:
    """Return url if it is absolute with one of these schemes, else raise naming them."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ValueError(f"must be a URL starting with {' or '.join(sorted(f'{s}://' for s in schemes))}")
    return url


class Settings(BaseSettings):
    """Bellhop's settings, from the environment, with the embedded defaults of a local run."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", env_ignore_empty=True)

    # production refuses a missing or built-in SECRET_KEY; local (make run) and test accept it.
    BELLHOP_ENV: Literal["production", "local", "test"] = "production"
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # JSON lines for a log pipeline, or text for a person; unset: json in production, text elsewhere.
    LOG_FORMAT: Literal["json", "text"] | None = None
    SECRET_KEY: SecretStr | None = None
    DATABASE_URL: str | None = None
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    # rediss:// only. Heroku Redis presents a self-signed certificate: "none" still encrypts, but does not
    # check who answers; a CA file checks the certificate against that CA instead of the system's.
    REDIS_TLS_VERIFY: Literal["required", "none"] = "required"
    REDIS_TLS_CA_FILE: str | None = None
    RQ_QUEUE: str = env("BELLHOP_QUEUE", default="bellhop")
    PROXY_HOPS: NonNegativeInt = env("BELLHOP_PROXY_HOPS", default=0)
    PUBLIC_URL: str = env("BELLHOP_PUBLIC_URL", default="http://127.0.0.1:8000")

    # Who may read /metrics: callers on these networks, or any caller with this bearer token.
    METRICS_NETWORKS: Words = env("BELLHOP_METRICS_NETWORKS", default=["127.0.0.1/32", "::1/128"])
    METRICS_TOKEN: SecretStr | None = env("BELLHOP_METRICS_TOKEN")

    # Inbound Standard Webhooks secrets; several are accepted so a secret can be rotated.
    WEBHOOK_SECRETS: Annotated[list[SecretStr], NoDecode] = env("BELLHOP_WEBHOOK_SECRETS", default=[])
    OUTBOUND_WEBHOOK_SECRET: SecretStr | None = env("BELLHOP_OUTBOUND_WEBHOOK_SECRET")
    MAX_CONTENT_LENGTH: PositiveInt = env("BELLHOP_MAX_BODY_BYTES", default=256 * 1024)
    DEFAULT_DURATION_MINUTES: PositiveInt = env("BELLHOP_DEFAULT_DURATION_MINUTES", default=60)

    CHANNELS: Words = env("BELLHOP_CHANNELS", default=["log"])
    WEBHOOK_CHANNEL_ENABLED: bool = env("BELLHOP_WEBHOOK_CHANNEL", default=True)
    # Webhook URLs come from events: only public addresses, plus these networks (CIDR) or host names.
    WEBHOOK_ALLOWLIST: Words = env("BELLHOP_WEBHOOK_ALLOWLIST", default=[])
    WEBHOOK_TIMEOUT_SECONDS: PositiveFloat = env(
        "BELLHOP_WEBHOOK_TIMEOUT_SECONDS", "BELLHOP_WEBHOOK_TIMEOUT", default=10.0
    )
    # Posts a worker has in flight at once; a crash can re-send at most these (with the same key).
    WEBHOOK_CONCURRENCY: PositiveInt = env("BELLHOP_WEBHOOK_CONCURRENCY", default=8)

    # A web client has this long to send its whole request (and may be silent no longer reading the answer).
    WEB_CLIENT_TIMEOUT_SECONDS: PositiveFloat = env("BELLHOP_WEB_CLIENT_TIMEOUT_SECONDS", default=10.0)
    # Requests each web worker runs through the app at once, after their bodies are in.
    WEB_REQUESTS_PER_WORKER: PositiveInt = env("BELLHOP_WEB_REQUESTS_PER_WORKER", default=1)
    SECURE_COOKIES: bool = env("BELLHOP_SECURE_COOKIES", default=False)
    # Failed sign-ins (webapp/domain/staff/login_throttle.py): per account from one address, per address,
    # and per account from everywhere, which slows down rather than locks out.
    LOGIN_MAX_FAILURES: PositiveInt = env("BELLHOP_LOGIN_MAX_FAILURES", default=5)
    LOGIN_ADDRESS_MAX_FAILURES: PositiveInt = env("BELLHOP_LOGIN_ADDRESS_MAX_FAILURES", default=20)
    LOGIN_ACCOUNT_FREE_FAILURES: PositiveInt = env("BELLHOP_LOGIN_ACCOUNT_FREE_FAILURES", default=10)
    LOGIN_MAX_DELAY_SECONDS: PositiveInt = env("BELLHOP_LOGIN_MAX_DELAY_SECONDS", default=30)
    LOGIN_FAILURE_WINDOW_SECONDS: PositiveInt = env("BELLHOP_LOGIN_FAILURE_WINDOW", default=900)
    # A dashboard session ends after this long unused, and this long after sign-in whatever happens.
    SESSION_IDLE_MINUTES: PositiveInt = env("BELLHOP_SESSION_IDLE_MINUTES", default=30)
    SESSION_LIFETIME_MINUTES: PositiveInt = env("BELLHOP_SESSION_LIFETIME_MINUTES", default=12 * 60)

    SMTP_HOST: str = "127.0.0.1"
    SMTP_PORT: int = Field(25, ge=1, le=65535)
    SMTP_SECURITY: Literal["none", "starttls", "ssl"] = "none"
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: SecretStr | None = None
    SMTP_FROM: str = "Bellhop <bellhop@localhost>"
    SMTP_MESSAGE_ID_DOMAIN: str = "bellhop.local"
    SMTP_CA_FILE: str | None = None
    SMTP_TIMEOUT_SECONDS: PositiveFloat = env("SMTP_TIMEOUT_SECONDS", "SMTP_TIMEOUT", default=10.0)

    # SMS through Twilio's Messages API; the base URL is settable for a stand-in or a regional edge.
    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: SecretStr | None = None
    TWILIO_FROM: str | None = None
    TWILIO_BASE_URL: str = "https://api.twilio.com"
    SMS_TIMEOUT_SECONDS: PositiveFloat = env("SMS_TIMEOUT_SECONDS", "SMS_TIMEOUT", default=10.0)
    SMS_CONCURRENCY: PositiveInt = 4

    TELEGRAM_BOT_TOKEN: SecretStr | None = None
    TELEGRAM_BASE_URL: str = "https://api.telegram.org"
    TELEGRAM_TIMEOUT_SECONDS: PositiveFloat = env("TELEGRAM_TIMEOUT_SECONDS", "TELEGRAM_TIMEOUT", default=10.0)
    TELEGRAM_CONCURRENCY: PositiveInt = 4

    # A recipient gets at most this many messages an hour on each channel (0: no cap), and a channel sends
    # at most so many a second across all workers (Telegram asks bots to stay under 30).
    RECIPIENT_HOURLY_LIMIT: NonNegativeInt = env("BELLHOP_RECIPIENT_HOURLY_LIMIT", default=0)
    PROVIDER_RATES: Annotated[dict[str, PositiveInt], NoDecode] = env(
        "BELLHOP_PROVIDER_RATES", default={"telegram": 30}
    )
    # Per message type, how many seconds early a message may leave when its channel's rate cannot send a
    # cluster on time (webapp/domain/sending/send_early.py); "off" for none. A start or end reminder never goes early.
    SEND_EARLY_SECONDS: Annotated[dict[str, NonNegativeInt], NoDecode] = env(
        "BELLHOP_SEND_EARLY_SECONDS", default={"booking_24h": 1800, "booking_1h": 600}
    )

    # Per message type, channels tried in order: the first reachable one is planned, and the next only when
    # it fails for good, is undelivered or suppressed. "booking_1h: sms, email; booking_24h: sms, email"
    FALLBACKS: Annotated[dict[str, list[str]], NoDecode] = env("BELLHOP_FALLBACKS", default={})
    # Permanent failures in a row after which a recipient's webhook URL is suppressed (0: never).
    WEBHOOK_SUPPRESS_AFTER: NonNegativeInt = env("BELLHOP_WEBHOOK_SUPPRESS_AFTER", default=5)
    # Where mail servers post bounces and complaints (Authorization: Bearer <token>); unset, the route is off.
    BOUNCE_TOKEN: SecretStr | None = env("BELLHOP_BOUNCE_TOKEN")
    # The envelope sender bounces go back to; each message's is made unique from it (VERP):
    # bounces@example.com becomes bounces+<id>-<signature>@example.com. Unset: SMTP_FROM's address.
    BOUNCE_ADDRESS: str | None = env("BELLHOP_BOUNCE_ADDRESS")
    # A full or disabled mailbox on this many of a person's emails within SOFT_BOUNCE_DAYS suppresses the
    # address, as a dead one would be (0: never; a soft bounce alone never does).
    # A bounce or complaint naming a message sent longer ago than this is not applied: its signed return
    # address has expired, so an old or leaked one cannot mark messages or suppress people for ever.
    BOUNCE_DAYS: PositiveInt = env("BELLHOP_BOUNCE_DAYS", default=30)
    SOFT_BOUNCE_LIMIT: NonNegativeInt = env("BELLHOP_SOFT_BOUNCE_LIMIT", default=0)
    SOFT_BOUNCE_DAYS: PositiveInt = env("BELLHOP_SOFT_BOUNCE_DAYS", default=7)
    # Phone numbers written without a country code are read as this region's (ISO 3166 code, e.g. DE).
    DEFAULT_PHONE_REGION: str | None = env("BELLHOP_DEFAULT_PHONE_REGION")

    # The platform's RabbitMQ. The consumer process runs only when AMQP_URL is set.
    AMQP_URL: SecretStr | None = None
    AMQP_EXCHANGE: str = "hire_an_expert_events"
    AMQP_QUEUE: str = "notification_queue"
    # The platform calls booking.* "all booking events", but in a topic exchange * is one word, so
    # booking.* misses its own booking.reminder.24hr; # (any number of words) keeps the intent.
    AMQP_BINDINGS: Words = ["booking.#", "payment.#", "user.#"]
    AMQP_DEAD_LETTER_EXCHANGE: str = "hire_an_expert_events.dead"
    AMQP_DEAD_LETTER_QUEUE: str = "notification_queue.dead"
    # Messages the broker hands one consumer before its acks: enough to keep it busy, few to redeliver.
    AMQP_PREFETCH: PositiveInt = 20
    AMQP_RETRY_MAX_SECONDS: PositiveFloat = 30.0

    MAX_ATTEMPTS: PositiveInt = env("BELLHOP_MAX_ATTEMPTS", default=5)
    RETRY_BASE_SECONDS: PositiveInt = env("BELLHOP_RETRY_BASE_SECONDS", default=30)
    RETRY_MAX_SECONDS: PositiveInt = env("BELLHOP_RETRY_MAX_SECONDS", default=3600)
    DISPATCH_BATCH_SIZE: PositiveInt = env("BELLHOP_DISPATCH_BATCH", default=500)
    # Inbox events a planner applies per transaction. SQLite has one writer, so a batch holds the webhook's
    # inserts back for as long as it takes: a few hundred keep that well under a second.
    PLANNER_BATCH_SIZE: PositiveInt = env("BELLHOP_PLANNER_BATCH", default=200)
    # On SQLite, the planner's pause after each batch, in which the webhook's inserts take the write lock.
    PLANNER_SQLITE_PAUSE_SECONDS: NonNegativeFloat = env("BELLHOP_PLANNER_SQLITE_PAUSE", default=0.1)
    # A drill: the planner leaves each event until it is this old, as a planner minutes behind would, so the
    # promises that hold from the 202 can be rehearsed (0, the default, plans at once).
    PLANNER_DELAY_SECONDS: NonNegativeFloat = env("BELLHOP_PLANNER_DELAY", default=0)
    # Large on purpose: each deliver job has a fixed cost, and a 50-row batch spent more on it than on sending.
    DELIVER_BATCH_SIZE: PositiveInt = env("BELLHOP_DELIVER_BATCH", default=500)
    # Rounds of parallel sends whose outcomes share one commit. More is faster (4: about +10 % in a burst) but a
    # crash then re-sends up to rounds x concurrency messages that went out unrecorded, not just one round's.
    SEND_ROUNDS_PER_COMMIT: PositiveInt = env("BELLHOP_SEND_ROUNDS", default=1)
    LEASE_SECONDS: PositiveInt = env("BELLHOP_LEASE_SECONDS", default=300)
    SWEEP_INTERVAL_SECONDS: PositiveInt = env("BELLHOP_SWEEP_SECONDS", default=5)
    # Well under a second: a due reminder waits for the next poll, so this bounds its lateness.
    SCHEDULER_INTERVAL_SECONDS: PositiveFloat = env("BELLHOP_SCHEDULER_INTERVAL", default=0.25)

    # Readiness: a process whose heartbeat is older than this is taken for stopped or dead, and a due
    # notification still waiting after this long means reminders are late.
    HEARTBEAT_STALE_SECONDS: PositiveInt = env("BELLHOP_HEARTBEAT_STALE_SECONDS", default=10)
    OVERDUE_SECONDS: PositiveInt = env("BELLHOP_OVERDUE_SECONDS", default=60)
    # An event still waiting in the inbox after this long means the planner is stopped or falling behind.
    PLANNING_LAG_SECONDS: PositiveInt = env("BELLHOP_PLANNING_LAG_SECONDS", default=30)

    @field_validator("LOG_LEVEL", "LOG_FORMAT", "SMTP_SECURITY", "REDIS_TLS_VERIFY", mode="before")
    @classmethod
    def any_case(cls, value, info):
        """Accept the choices in any case."""
        if not isinstance(value, str):
            return value
        return value.upper() if info.field_name == "LOG_LEVEL" else value.lower()

    @field_validator(
        "CHANNELS", "WEBHOOK_ALLOWLIST", "AMQP_BINDINGS", "WEBHOOK_SECRETS", "METRICS_NETWORKS", mode="before"
    )
    @classmethod
    def words(cls, value):
        """Comma- or space-separated lists."""
        return split_words(value)

    @field_validator("CHANNELS")
    @classmethod
    def known_channels(cls, channels: list[str]) -> list[str]:
        """Every channel named is one Bellhop has; 'none' is none (an empty value means the default, log)."""
        if channels == ["none"]:
            return []
        unknown = [name for name in channels if name not in KNOWN_CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel {', '.join(unknown)}; known: {', '.join(KNOWN_CHANNELS)}")
        return channels

    @field_validator("PROVIDER_RATES", mode="before")
    @classmethod
    def rates(cls, value):
        """'telegram=30,sms=10': messages a second per channel, across all workers."""
        if not isinstance(value, str):
            return value
        rates = {}
        for item in split_words(value):
            channel, _, rate = item.partition("=")
            if channel not in KNOWN_CHANNELS or not rate.isdigit():
                raise ValueError(f"wants channel=messages-per-second with a known channel, got {item!r}")
            rates[channel] = int(rate)
        return rates

    @field_validator("SEND_EARLY_SECONDS", mode="before")
    @classmethod
    def early_tolerances(cls, value):
        """'booking_1h=600,booking_24h=1800': per message type, the seconds it may leave early; 'off': none."""
        if not isinstance(value, str):
            return value
        if value.strip().lower() == "off":  # an empty value means the default, so off needs a word
            return {}
        tolerances = {}
        for item in split_words(value):
            kind, _, seconds = item.partition("=")
            if kind not in {member.value for member in NotificationType} or not seconds.isdigit():
                raise ValueError(f"wants message_type=seconds with a known message type, got {item!r}")
            tolerances[kind] = int(seconds)
        return tolerances

    @field_validator("FALLBACKS", mode="before")
    @classmethod
    def fallbacks(cls, value):
        """'booking_1h: sms, email; booking_24h: sms, email': per message type, channels in the order tried."""
        if not isinstance(value, str):
            return value
        chains = {}
        for item in (part.strip() for part in value.split(";")):
            if not item:
                continue
            kind, _, channels = item.partition(":")
            kind, chain = kind.strip(), split_words(channels)
            if kind not in {member.value for member in NotificationType}:
                raise ValueError(f"unknown message type {kind!r} in {item!r}")
            unknown = [name for name in chain if name not in KNOWN_CHANNELS]
            if len(chain) < 2 or unknown:
                raise ValueError(f"wants 'type: channel, channel[, ...]' with known channels, got {item!r}")
            chains[kind] = chain
        return chains

    @field_validator("DEFAULT_PHONE_REGION")
    @classmethod
    def phone_region(cls, region: str | None) -> str | None:
        """A region phonenumbers knows, such as DE or US."""
        if region is not None and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{region!r} is not an ISO 3166 region phonenumbers knows (e.g. DE, US, GB)")
        return region.upper() if region else None

    @field_validator("WEBHOOK_ALLOWLIST")
    @classmethod
    def networks_or_hosts(cls, entries: list[str]) -> list[str]:
        """Each entry is an address, a network in CIDR notation, or a host name."""
        for entry in entries:
            if network(entry) is None and not HOST_NAME.match(entry.lower()):
                raise ValueError(f"{entry!r} is neither an address, a CIDR network nor a host name")
        return entries

    @field_validator("METRICS_NETWORKS")
    @classmethod
    def networks(cls, entries: list[str]) -> list[str]:
        """Each entry is an address or a network in CIDR notation, written out in full."""
        parsed = [network(entry) for entry in entries]
        for entry, found in zip(entries, parsed, strict=True):
            if found is None:
                raise ValueError(f"{entry!r} is neither an address nor a CIDR network")
        return [str(found) for found in parsed]

    @field_validator("DATABASE_URL")
    @classmethod
    def database_url(cls, url: str | None) -> str | None:
        """A PostgreSQL or SQLite URL (the databases Bellhop runs on)."""
        if url is not None:
            try:
                backend = make_url(url).get_backend_name()
            except ArgumentError:
                backend = None
            if backend not in ("postgresql", "postgres", "sqlite"):
                raise ValueError("must be a PostgreSQL or SQLite database URL, such as postgresql://user:pass@host/db")
        return url

    @field_validator("REDIS_URL")
    @classmethod
    def redis_url(cls, url: str) -> str:
        """redis://, rediss:// (TLS) or unix://."""
        return require_scheme(url, {"redis", "rediss", "unix"})

    @field_validator("PUBLIC_URL", "TWILIO_BASE_URL", "TELEGRAM_BASE_URL")
    @classmethod
    def web_url(cls, url: str) -> str:
        """http:// or https://."""
        return require_scheme(url, {"http", "https"}).rstrip("/")

    @field_validator("SMTP_CA_FILE", "REDIS_TLS_CA_FILE")
    @classmethod
    def readable_file(cls, path: str | None) -> str | None:
        """A file that is there to read."""
        if path is not None and not os.access(path, os.R_OK):
            raise ValueError(f"no readable file at {path}")
        return path

    @field_validator("AMQP_URL")
    @classmethod
    def amqp_url(cls, url: SecretStr | None) -> SecretStr | None:
        """amqp:// or amqps://."""
        if url is not None:
            require_scheme(url.get_secret_value(), {"amqp", "amqps"})
        return url
