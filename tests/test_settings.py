"""Settings are checked at start: a bad value stops every process, naming the setting and what it allows."""

import subprocess
import sys

import pytest

from tests.support.processes import process_env, procfile_entries, start
from webapp.flask_config import PROJECT_ROOT, ConfigurationError, described, load_settings

BAD_VALUES = [
    ("SMTP_SECURITY", "tls", "'none', 'starttls' or 'ssl'"),
    ("BELLHOP_CHANNELS", "log,emial", "unknown channel emial; known: log, webhook, email, sms, telegram"),
    ("BELLHOP_PROVIDER_RATES", "telegram=fast", "channel=messages-per-second"),
    ("BELLHOP_SEND_EARLY_SECONDS", "booking_2h=600", "message_type=seconds with a known message type"),
    ("BELLHOP_SEND_EARLY_SECONDS", "booking_1h=-5", "message_type=seconds"),
    ("BELLHOP_WEBHOOK_ALLOWLIST", "10.0.0.0/33", "neither an address, a CIDR network nor a host name"),
    ("REDIS_URL", "http://127.0.0.1:6379", "redis:// or rediss:// or unix://"),
    ("BELLHOP_PUBLIC_URL", "bellhop.example.com", "http:// or https://"),
    ("AMQP_URL", "rabbit://guest:guest@localhost", "amqp:// or amqps://"),
    ("DATABASE_URL", "not a url", "database URL"),
    ("SMTP_PORT", "70000", "less than or equal to 65535"),
    ("SMTP_TIMEOUT", "soon", "SMTP_TIMEOUT_SECONDS (or SMTP_TIMEOUT)"),
    ("BELLHOP_WEBHOOK_CONCURRENCY", "0", "greater than 0"),
    ("BELLHOP_SECURE_COOKIES", "maybe", "valid boolean"),
    ("SMTP_CA_FILE", "/nonexistent/ca.pem", "no readable file"),
    ("LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
]


@pytest.mark.parametrize(("variable", "value", "explanation"), BAD_VALUES)
def test_a_bad_value_is_refused_with_its_name_and_what_is_allowed(monkeypatch, variable, value, explanation):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as refused:
        load_settings(BELLHOP_ENV="test")
    assert variable in str(refused.value) and explanation in str(refused.value)


def test_channels_none_turns_off_all_but_the_webhook_while_empty_means_the_default(monkeypatch):
    monkeypatch.setenv("BELLHOP_CHANNELS", "none")
    assert load_settings(BELLHOP_ENV="test").CHANNELS == []
    monkeypatch.setenv("BELLHOP_CHANNELS", "")
    assert load_settings(BELLHOP_ENV="test").CHANNELS == ["log"]


def test_renamed_timeouts_keep_their_old_names(monkeypatch):
    old_names = {"SMTP_TIMEOUT": "3", "SMS_TIMEOUT": "4", "TELEGRAM_TIMEOUT": "5", "BELLHOP_WEBHOOK_TIMEOUT": "6"}
    for name, value in old_names.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(BELLHOP_ENV="test")
    assert (settings.SMTP_TIMEOUT_SECONDS, settings.SMS_TIMEOUT_SECONDS) == (3, 4)
    assert (settings.TELEGRAM_TIMEOUT_SECONDS, settings.WEBHOOK_TIMEOUT_SECONDS) == (5, 6)
    monkeypatch.setenv("SMTP_TIMEOUT_SECONDS", "7")  # the new name wins over the old
    assert load_settings(BELLHOP_ENV="test").SMTP_TIMEOUT_SECONDS == 7


@pytest.mark.parametrize("secret_key", [None, "dev-only-not-secret", "short"])
def test_production_refuses_a_missing_built_in_or_short_secret_key(monkeypatch, secret_key):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    if secret_key:
        monkeypatch.setenv("SECRET_KEY", secret_key)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings(BELLHOP_ENV="production")
    assert load_settings(BELLHOP_ENV="local")  # a laptop may use the built-in one


PRODUCTION_NEEDS = ["DATABASE_URL", "REDIS_URL", "BELLHOP_WEBHOOK_SECRETS", "BELLHOP_PUBLIC_URL"]

PRODUCTION_VALUES = [
    "postgresql://bellhop:pw@db.internal/bellhop",
    "rediss://:pw@redis.internal:6380",
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "https://bellhop.example.com",
]


def test_production_with_only_a_secret_key_names_every_service_and_address_left_to_its_default(monkeypatch):
    for variable in PRODUCTION_NEEDS:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    with pytest.raises(ConfigurationError) as refused:
        load_settings(BELLHOP_ENV="production")
    for variable in PRODUCTION_NEEDS:
        assert f"{variable}: unset; production needs" in str(refused.value)
    monkeypatch.setenv("BELLHOP_WEBHOOK_SECRETS", "")  # empty is unset too
    with pytest.raises(ConfigurationError, match="BELLHOP_WEBHOOK_SECRETS: unset"):
        load_settings(BELLHOP_ENV="production")
    assert load_settings(BELLHOP_ENV="local")  # a laptop runs on the embedded defaults


def test_production_starts_once_each_is_set(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("BELLHOP_SECURE_COOKIES", "1")
    for variable, value in zip(PRODUCTION_NEEDS, PRODUCTION_VALUES, strict=True):
        monkeypatch.setenv(variable, value)
    assert load_settings(BELLHOP_ENV="production").PUBLIC_URL == "https://bellhop.example.com"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"SMTP_HOST": "smtp.example.com", "SMTP_PASSWORD": "pw"}, "SMTP_SECURITY: none would send SMTP_PASSWORD"),
        ({"BELLHOP_SECURE_COOKIES": "0"}, "BELLHOP_SECURE_COOKIES: off while BELLHOP_PUBLIC_URL is https"),
    ],
)
def test_production_refuses_to_send_a_secret_in_clear_text(monkeypatch, settings, problem):
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    for variable, value in zip(PRODUCTION_NEEDS, PRODUCTION_VALUES, strict=True):
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("BELLHOP_SECURE_COOKIES", "1")
    for variable, value in settings.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=problem):
        load_settings(BELLHOP_ENV="production")
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")  # a relay on this machine may take a password in clear
    monkeypatch.setenv("BELLHOP_PUBLIC_URL", "http://bellhop.internal")
    assert load_settings(BELLHOP_ENV="production")


def test_the_secret_key_minimum_is_the_one_its_message_names(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "k" * 31)
    with pytest.raises(ConfigurationError, match="31 characters is too short .* use at least 32 random ones"):
        load_settings(BELLHOP_ENV="production")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://bellhop:hunter2-db@db.internal/bellhop"),
        ("DATABASE_URL", "postgresql://bellhop:hunter2@db@db.internal:port/bellhop"),
        ("REDIS_URL", "http://:hunter2-redis@redis.internal:6379/0"),
        ("REDIS_URL", "https://redis.internal/0?password=hunter2-query&db=1"),
        ("AMQP_URL", "rabbit://guest:hunter2-amqp@rabbit.internal/%2F"),
        ("BELLHOP_PUBLIC_URL", "ftp://staff:hunter2-public@bellhop.example.com"),
    ],
)
def test_a_refused_url_is_shown_without_its_password(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as refused:
        load_settings(BELLHOP_ENV="test")
    assert variable in str(refused.value) and "***" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_a_database_bellhop_does_not_run_on_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://bellhop@db.internal/bellhop")
    with pytest.raises(ConfigurationError, match="DATABASE_URL: must be a PostgreSQL or SQLite database URL"):
        load_settings(BELLHOP_ENV="test")


def config_check(env: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "config", "check"]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_config_check_prints_the_effective_settings_with_secrets_masked(database_url, redis_url):
    env = {
        **process_env(database_url, redis_url),
        "BELLHOP_ENV": "production",
        "SECRET_KEY": "a-production-secret-key-of-some-length",
        "BELLHOP_PUBLIC_URL": "https://bellhop.example.com",
        "BELLHOP_SECURE_COOKIES": "1",
        "SMTP_PASSWORD": "hunter2-smtp",
        "AMQP_URL": "amqp://bellhop:hunter2-amqp@127.0.0.1:5672/%2F",
        "SMTP_TIMEOUT": "3",
    }
    done = config_check(env)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(None, 1) for line in done.stdout.splitlines() if " " in line.strip())
    assert lines["SMTP_TIMEOUT_SECONDS"] == "3.0" and lines["SMTP_PASSWORD"] == "(set, hidden)"
    assert lines["AMQP_URL"] == "amqp://bellhop:***@127.0.0.1:5672/%2F"
    for secret in ("hunter2", "a-production-secret-key", env["BELLHOP_WEBHOOK_SECRETS"]):
        assert secret not in done.stdout


def test_config_check_exits_non_zero_on_a_bad_setting(database_url, redis_url):
    done = config_check({**process_env(database_url, redis_url), "SMTP_SECURITY": "tls"})
    assert done.returncode != 0 and "SMTP_SECURITY: Input should be 'none', 'starttls' or 'ssl'" in done.stderr
    assert done.stderr.splitlines()[0] == "Bellhop's configuration has problems:"  # the list, not a traceback
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["worker", "scheduler", "web", "consumer"])
def test_every_process_stops_at_start_on_a_bad_setting(database_url, redis_url, tmp_path, kind):
    env = {**process_env(database_url, redis_url), "BELLHOP_CHANNELS": "log emial", "PORT": "0"}
    process = start(kind, env, tmp_path / "process.log")
    assert process.wait(60) != 0
    log = (tmp_path / "process.log").read_text()
    assert "Bellhop's configuration has problems:\n  BELLHOP_CHANNELS: unknown channel emial" in log
    assert "Traceback" not in log  # what an operator reads in the release or process log


def test_the_release_step_checks_the_configuration_before_migrating():
    assert procfile_entries()["release"] == "flask --app wsgi config check && flask --app wsgi db upgrade"


def test_config_check_masks_credentials_in_a_urls_query_as_well_as_its_password():
    settings = load_settings(
        BELLHOP_ENV="local",
        DATABASE_URL="postgres://bellhop:hunter2-db@db.internal/bellhop?sslpassword=hunter2-key&sslmode=require",
        REDIS_URL="rediss://:hunter2-redis@cache.internal:6380/0?ssl_cert_reqs=required",
    )
    shown = dict(described(settings))
    assert shown["DATABASE_URL"] == (
        "postgresql+psycopg://bellhop:***@db.internal/bellhop?sslpassword=***&sslmode=require"
    )
    assert shown["REDIS_URL"] == "rediss://:***@cache.internal:6380/0?ssl_cert_reqs=required"
    assert "hunter2" not in repr(shown)
