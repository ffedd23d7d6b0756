"""A misbehaving provider: answers past the timeout, a 429 storm, connection resets. Retries stay bounded."""

import math
import time

import pytest

from tests.support.factories import envelope, notifications, post_and_plan
from tests.support.receiver import RESET
from tests.support.signin import sign_in

pytestmark = pytest.mark.slow  # make test-fast leaves it out

MESSAGES, MAX_ATTEMPTS, TIMEOUT = 12, 3, 0.5


@pytest.fixture
def config_overrides():
    return {
        "CHANNELS": [],
        "WEBHOOK_TIMEOUT_SECONDS": TIMEOUT,
        "MAX_ATTEMPTS": MAX_ATTEMPTS,
        "RETRY_BASE_SECONDS": 1,
        "RETRY_MAX_SECONDS": 1,
        "WEBHOOK_CONCURRENCY": 4,
    }


def test_slow_answers_429_storms_and_resets_end_sent_or_visibly_failed(client, accounts, run_jobs, receiver):
    for n in range(MESSAGES):
        receiver.answer(*[(200, {}, TIMEOUT * 4), (429, {"Retry-After": "1"}, 0), (RESET, {}, 0)][n % 3])
    for _ in range(MESSAGES + MESSAGES // 2):  # the storm goes on through every second try and half the third
        receiver.answer(429, {"Retry-After": "1"})
    for n in range(MESSAGES):
        post_and_plan(client, envelope("user.welcome", {"user_id": f"u-{n}", "webhook_url": receiver.url}))
    longest = 0.0
    for _ in range(MAX_ATTEMPTS + 2):
        started = time.monotonic()
        run_jobs()
        longest = max(longest, time.monotonic() - started)
        if all(row.status.value in ("sent", "failed") for row in notifications()):
            break
        time.sleep(math.ceil(time.time()) - time.time() + 1.3)  # past the 1 s backoff, into a new second
    rows = notifications()
    assert {row.status.value for row in rows} == {"sent", "failed"}
    assert max(row.attempts for row in rows) == MAX_ATTEMPTS  # bounded: never a fourth try
    failed = [row for row in rows if row.status.value == "failed"]
    assert all(row.last_error == f"gave up after {MAX_ATTEMPTS} attempts: HTTP 429" for row in failed)
    first_errors = {row.attempt_log[0].error for row in rows}
    assert {"timed out", "HTTP 429"} <= first_errors and any("connection failed" in e for e in first_errors)
    # No worker is stuck: a batch of 12 with 4 slow answers returns in a few timeouts, not a hang.
    assert longest < 8 * TIMEOUT + 5, longest
    sign_in(client, "viewer@example.com")
    page = client.get("/dashboard/notifications?status=failed").get_data(as_text=True)
    assert page.count(f"gave up after {MAX_ATTEMPTS} attempts: HTTP 429") == len(failed)
