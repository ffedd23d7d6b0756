"""Throttles hold messages back and let them go later: none is lost, and no retry is used up."""

import bisect
import threading
import time
from datetime import timedelta

import pytest

from tests.support.factories import envelope, notifications, now, post_and_plan
from webapp.domain.sending.throttle import provider_allowance


@pytest.fixture
def config_overrides(telegram):
    return {
        "CHANNELS": ["telegram"],
        "WEBHOOK_CHANNEL_ENABLED": False,
        "TELEGRAM_BASE_URL": telegram.url,
        "TELEGRAM_BOT_TOKEN": telegram.TOKEN,
        "PROVIDER_RATES": {},
    }


def welcome(n: int, user="u-1", chat="4242") -> dict:
    return envelope("user.profile_updated", {"user_id": user, "telegram_chat_id": chat, "name": f"N{n}"})


def test_a_recipient_over_the_hourly_cap_waits_for_the_hour_to_free_up(app, client, run_jobs, telegram):
    app.config["RECIPIENT_HOURLY_LIMIT"] = 2
    for n in range(3):
        post_and_plan(client, welcome(n))
    run_jobs()
    assert len(telegram.requests) == 2
    rows = notifications()
    sent = [row for row in rows if row.status.value == "sent"]
    [held] = [row for row in rows if row.status.value == "pending"]
    assert held.last_error == "throttled: at most 2 messages an hour on telegram for this recipient"
    assert held.attempts == 0  # the throttle used up no retry
    oldest = min(row.sent_at for row in sent)
    assert oldest + timedelta(hours=1) - timedelta(seconds=1) <= held.due_at <= oldest + timedelta(hours=1)


def test_other_recipients_are_not_held_back_by_one_recipients_cap(app, client, run_jobs, telegram):
    app.config["RECIPIENT_HOURLY_LIMIT"] = 1
    post_and_plan(client, welcome(0, "u-1", "1"))
    post_and_plan(client, welcome(1, "u-1", "1"))
    post_and_plan(client, welcome(2, "u-2", "2"))
    run_jobs()
    assert sorted(r["json"]["chat_id"] for r in telegram.requests) == ["1", "2"]


def test_a_provider_rate_spreads_a_batch_over_seconds_and_sends_every_message(app, client, run_jobs, telegram):
    app.config["PROVIDER_RATES"] = {"telegram": 2}
    for n in range(5):
        post_and_plan(client, welcome(n, f"u-{n}", str(n)))
    started = time.time()
    run_jobs()
    # At most the rate in any sliding second; a busy machine may carry one run across a second's edge.
    seconds_spanned = int(time.time()) - int(started) + 1
    assert len(telegram.requests) <= 2 * seconds_spanned
    held = [row for row in notifications() if row.status.value == "pending"]
    assert len(held) == 5 - len(telegram.requests) and (held or seconds_spanned > 2)
    assert {row.last_error for row in held} <= {"throttled: telegram is limited to 2 messages a second"}
    assert all(row.due_at <= now() + timedelta(seconds=2) for row in held)
    deadline = time.monotonic() + 10
    while len(telegram.requests) < 5 and time.monotonic() < deadline:
        time.sleep(1.1)
        run_jobs()
    assert sorted(r["json"]["chat_id"] for r in telegram.requests) == ["0", "1", "2", "3", "4"]  # once each
    assert {row.status.value for row in notifications()} == {"sent"}
    assert {row.attempts for row in notifications()} == {1}


def test_a_provider_rate_holds_over_any_sliding_second_across_workers(app):
    rate, workers = 5, 3
    app.config["PROVIDER_RATES"] = {"telegram": rate}
    granted_at: list[float] = []

    def worker() -> None:
        with app.app_context():
            ends = time.time() + 2.5
            while time.time() < ends:
                allowed, _ = provider_allowance("telegram", 1)
                granted_at.extend([time.time()] * allowed)
                time.sleep(0.01)

    # Start just before a clock second ends: a per-second window would grant its rate twice across the edge.
    time.sleep(1 - time.time() % 1 + 0.9)
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted_at.sort()
    # Each grant is stamped just after Redis made it: allow the stamps 10 ms of jitter.
    busiest = max(bisect.bisect_left(granted_at, start + 0.99) - index for index, start in enumerate(granted_at))
    assert busiest == rate
    assert len(granted_at) >= 2 * rate  # the rate was used, not merely never reached


def test_provider_rates_parse_and_refuse_nonsense(monkeypatch):
    from webapp.flask_config import ConfigurationError, load_settings

    monkeypatch.setenv("BELLHOP_PROVIDER_RATES", "telegram=30, sms=5")
    assert load_settings(BELLHOP_ENV="test").PROVIDER_RATES == {"telegram": 30, "sms": 5}
    monkeypatch.setenv("BELLHOP_SEND_EARLY_SECONDS", "booking_1h=600 booking_start=0")
    assert load_settings(BELLHOP_ENV="test").SEND_EARLY_SECONDS == {"booking_1h": 600, "booking_start": 0}
    monkeypatch.setenv("BELLHOP_SEND_EARLY_SECONDS", "off")
    assert load_settings(BELLHOP_ENV="test").SEND_EARLY_SECONDS == {}
    for nonsense in ("telegram=fast", "telegarm=30", "telegram=0"):
        monkeypatch.setenv("BELLHOP_PROVIDER_RATES", nonsense)
        with pytest.raises(ConfigurationError, match="BELLHOP_PROVIDER_RATES"):
            load_settings(BELLHOP_ENV="test")
