"""Configuration read from the environment, with embedded defaults for local use."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def parse_boolean(value: str | None, default: bool = False) -> bool:
    """Read an environment flag: only 1/true/yes/on are true."""
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def parse_list(value: str | None) -> list[str]:
    """Split a comma- or space-separated setting into its items."""
    return [item for item in (value or "").replace(",", " ").split() if item]


def parse_rates(value: str | None) -> dict[str, int]:
    """Read 'telegram=30,sms=10': messages a second per channel, across all workers."""
    rates = {}
    for item in parse_list(value):
        channel, _, rate = item.partition("=")
        if not rate.isdigit():
            raise ValueError(f"BELLHOP_PROVIDER_RATES wants channel=messages-per-second, got {item!r}")
        rates[channel] = int(rate)
    return rates


def database_url(url: str | None) -> str:
    """Return a SQLAlchemy URL, defaulting to the embedded SQLite file."""
    if not url:
        return f"sqlite:///{PROJECT_ROOT / 'instance' / 'bellhop.db'}"
    # Heroku-style URLs name the scheme "postgres"; psycopg 3 needs its own driver name.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def env_int(name: str, default: int) -> int:
    """Read an integer setting, failing loudly on a malformed value."""
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


class Config:
    """Settings for every process; each can be overridden by an environment variable."""

    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    RQ_QUEUE = os.environ.get("BELLHOP_QUEUE", "bellhop")

    # Inbound Standard Webhooks secrets; several are accepted so a secret can be rotated.
    WEBHOOK_SECRETS = parse_list(os.environ.get("BELLHOP_WEBHOOK_SECRETS"))
    # Secret used to sign what the outgoing webhook channel posts.
    OUTBOUND_WEBHOOK_SECRET = os.environ.get("BELLHOP_OUTBOUND_WEBHOOK_SECRET")
    MAX_CONTENT_LENGTH = env_int("BELLHOP_MAX_BODY_BYTES", 256 * 1024)

    DEFAULT_DURATION_MINUTES = env_int("BELLHOP_DEFAULT_DURATION_MINUTES", 60)
    CHANNELS = parse_list(os.environ.get("BELLHOP_CHANNELS", "log"))
    WEBHOOK_CHANNEL_ENABLED = parse_boolean(os.environ.get("BELLHOP_WEBHOOK_CHANNEL"), True)
    WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("BELLHOP_WEBHOOK_TIMEOUT", "10"))
    # Webhook URLs come from events: only public addresses, plus these networks (CIDR) or host names.
    WEBHOOK_ALLOWLIST = parse_list(os.environ.get("BELLHOP_WEBHOOK_ALLOWLIST"))
    # Posts a worker has in flight at once; a crash can re-send at most these (with the same key).
    WEBHOOK_CONCURRENCY = env_int("BELLHOP_WEBHOOK_CONCURRENCY", 8)

    # Dashboard sessions: the cookie is out of scripts' reach and not sent on cross-site posts; it is
    # Secure whenever Bellhop is served over HTTPS (set BELLHOP_SECURE_COOKIES=1 behind a TLS proxy).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = parse_boolean(os.environ.get("BELLHOP_SECURE_COOKIES"))
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    LOGIN_MAX_FAILURES = env_int("BELLHOP_LOGIN_MAX_FAILURES", 5)
    LOGIN_FAILURE_WINDOW_SECONDS = env_int("BELLHOP_LOGIN_FAILURE_WINDOW", 900)

    # Proxies in front of the web process that append to X-Forwarded-For and set X-Forwarded-Proto: 1 behind
    # a Heroku-style router or one nginx. With 0, forwarding headers are ignored (a client could forge them).
    PROXY_HOPS = env_int("BELLHOP_PROXY_HOPS", 0)

    # Where people reach this Bellhop: unsubscribe links in emails point here.
    PUBLIC_URL = os.environ.get("BELLHOP_PUBLIC_URL", "http://127.0.0.1:8000")

    # Email over SMTP. SMTP_SECURITY: none, starttls or ssl.
    SMTP_HOST = os.environ.get("SMTP_HOST", "127.0.0.1")
    SMTP_PORT = env_int("SMTP_PORT", 25)
    SMTP_SECURITY = os.environ.get("SMTP_SECURITY", "none").lower()
    SMTP_USERNAME = os.environ.get("SMTP_USERNAME")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD")
    SMTP_FROM = os.environ.get("SMTP_FROM", "Bellhop <bellhop@localhost>")
    SMTP_MESSAGE_ID_DOMAIN = os.environ.get("SMTP_MESSAGE_ID_DOMAIN", "bellhop.local")
    SMTP_CA_FILE = os.environ.get("SMTP_CA_FILE")
    SMTP_TIMEOUT_SECONDS = float(os.environ.get("SMTP_TIMEOUT", "10"))

    # SMS through Twilio's Messages API; the base URL is settable for a stand-in or a regional edge.
    TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID")
    TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN")
    TWILIO_FROM = os.environ.get("TWILIO_FROM")
    TWILIO_BASE_URL = os.environ.get("TWILIO_BASE_URL", "https://api.twilio.com")
    SMS_TIMEOUT_SECONDS = float(os.environ.get("SMS_TIMEOUT", "10"))
    SMS_CONCURRENCY = env_int("SMS_CONCURRENCY", 4)

    # Telegram's Bot API.
    TELEGRAM_BOT_TOKEN = os.environ.get("TELEGRAM_BOT_TOKEN")
    TELEGRAM_BASE_URL = os.environ.get("TELEGRAM_BASE_URL", "https://api.telegram.org")
    TELEGRAM_TIMEOUT_SECONDS = float(os.environ.get("TELEGRAM_TIMEOUT", "10"))
    TELEGRAM_CONCURRENCY = env_int("TELEGRAM_CONCURRENCY", 4)

    # Throttles. A recipient gets at most this many messages an hour on each channel (0: no cap), and a
    # channel sends at most so many a second across all workers (Telegram asks bots to stay under 30).
    RECIPIENT_HOURLY_LIMIT = env_int("BELLHOP_RECIPIENT_HOURLY_LIMIT", 0)
    PROVIDER_RATES = parse_rates(os.environ.get("BELLHOP_PROVIDER_RATES", "telegram=30"))

    # The platform's RabbitMQ. The consumer process runs only when AMQP_URL is set.
    AMQP_URL = os.environ.get("AMQP_URL")
    AMQP_EXCHANGE = os.environ.get("AMQP_EXCHANGE", "hire_an_expert_events")
    AMQP_QUEUE = os.environ.get("AMQP_QUEUE", "notification_queue")
    # The platform calls booking.* "all booking events", but in a topic exchange * is one word, so
    # booking.* misses its own booking.reminder.24hr; # (any number of words) keeps the intent.
    AMQP_BINDINGS = parse_list(os.environ.get("AMQP_BINDINGS", "booking.# payment.# user.#"))
    AMQP_DEAD_LETTER_EXCHANGE = os.environ.get("AMQP_DEAD_LETTER_EXCHANGE", "hire_an_expert_events.dead")
    AMQP_DEAD_LETTER_QUEUE = os.environ.get("AMQP_DEAD_LETTER_QUEUE", "notification_queue.dead")
    # Messages the broker hands one consumer before its acks: enough to keep it busy, few to redeliver.
    AMQP_PREFETCH = env_int("AMQP_PREFETCH", 20)
    AMQP_RETRY_MAX_SECONDS = float(os.environ.get("AMQP_RETRY_MAX_SECONDS", "30"))

    MAX_ATTEMPTS = env_int("BELLHOP_MAX_ATTEMPTS", 5)
    RETRY_BASE_SECONDS = env_int("BELLHOP_RETRY_BASE_SECONDS", 30)
    RETRY_MAX_SECONDS = env_int("BELLHOP_RETRY_MAX_SECONDS", 3600)
    DISPATCH_BATCH_SIZE = env_int("BELLHOP_DISPATCH_BATCH", 500)
    # Large on purpose: each deliver job has a fixed cost, and a 50-row batch spent more on it than on sending.
    DELIVER_BATCH_SIZE = env_int("BELLHOP_DELIVER_BATCH", 500)
    # Rounds of parallel sends whose outcomes share one commit. More is faster (4: about +10 % in a burst) but a
    # crash then re-sends up to rounds x concurrency messages that went out unrecorded, not just one round's.
    SEND_ROUNDS_PER_COMMIT = env_int("BELLHOP_SEND_ROUNDS", 1)
    LEASE_SECONDS = env_int("BELLHOP_LEASE_SECONDS", 300)
    SWEEP_INTERVAL_SECONDS = env_int("BELLHOP_SWEEP_SECONDS", 5)
    # Well under a second: a due reminder waits for the next poll, so this bounds its lateness.
    SCHEDULER_INTERVAL_SECONDS = float(os.environ.get("BELLHOP_SCHEDULER_INTERVAL", "0.25"))

    # Readiness: a process whose heartbeat is older than this is taken for stopped or dead, and a due
    # notification still waiting after this long means reminders are late.
    HEARTBEAT_STALE_SECONDS = env_int("BELLHOP_HEARTBEAT_STALE_SECONDS", 10)
    OVERDUE_SECONDS = env_int("BELLHOP_OVERDUE_SECONDS", 60)


class TestConfig(Config):
    """Settings for the test suite: the database comes from TEST_DATABASE_URL."""

    TESTING = True
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("TEST_DATABASE_URL", "sqlite://"))
    WEBHOOK_SECRETS = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
    OUTBOUND_WEBHOOK_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    CHANNELS = ["log"]
    # The tests' receivers listen on loopback; only they are let through.
    WEBHOOK_ALLOWLIST = ["127.0.0.1"]
    RETRY_BASE_SECONDS = 1
    RETRY_MAX_SECONDS = 2
    LEASE_SECONDS = 30
