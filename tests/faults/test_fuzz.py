"""Fuzzing the webhook with Hypothesis: no 5xx, and no row changed by a request it rejects."""

import json
import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.factories import booking_payload, envelope, now, post_and_plan, row_counts, signed_headers
from webapp.domain.accepting.events import PAYLOADS

pytestmark = pytest.mark.slow  # make test-fast leaves it out

# Per database; the suite runs on two, so 10,000 cases in all. BELLHOP_FUZZ_EXAMPLES raises it for a soak.
EXAMPLES = int(os.environ.get("BELLHOP_FUZZ_EXAMPLES", "5000"))
FIELDS = [
    "booking_id",
    "client_id",
    "expert_id",
    "user_id",
    "payment_id",
    "scheduled_time",
    "duration_minutes",
    "amount",
    "currency",
    "client",
    "expert",
    "user",
    "email",
    "phone",
    "timezone",
    "quiet_hours",
    "preferences",
    "webhook_url",
    "telegram_chat_id",
    "locale",
    "name",
    "service_name",
    "reset_url",
]

json_leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
# Near misses: a real payload with fields removed, or replaced by values of any type.
near_payload = st.builds(
    lambda payload, dropped, replaced: {**{k: v for k, v in payload.items() if k not in dropped}, **replaced},
    st.sampled_from([booking_payload(f"b-{n}") for n in range(3)]),
    st.sets(st.sampled_from(FIELDS), max_size=4),
    st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=3),
)
event_type = st.sampled_from(sorted(PAYLOADS)) | st.text(string.ascii_lowercase + ".", max_size=30)
timestamp = st.sampled_from([now().isoformat(), "2026-02-30T25:61:00Z", "", "yesterday"]) | st.text(max_size=30)
envelopes = st.fixed_dictionaries(
    {"event_type": event_type, "timestamp": timestamp, "payload": near_payload | json_value},
    optional={"extra": json_value},
)
bodies = envelopes.map(json.dumps) | json_value.map(json.dumps) | st.text(max_size=200)


def fingerprint() -> tuple:
    counts = row_counts()
    return tuple(sorted(counts.items()))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies)
def test_no_signed_body_causes_a_5xx_and_a_rejected_one_changes_nothing(client, body):
    before = fingerprint()
    response = client.post("/webhooks/events", data=body.encode("utf-8", "surrogatepass"), headers=signed_headers(body))
    assert response.status_code < 500, (response.status_code, body[:300])
    if response.status_code >= 400:
        assert fingerprint() == before, body[:300]
        assert response.get_json()["error"]  # a reason, not a stack trace


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_bytes_that_are_not_utf8_json_are_refused_cleanly(client, raw):
    before = fingerprint()
    headers = signed_headers(raw.decode("latin-1"))  # a signature over other bytes: must not verify either
    response = client.post("/webhooks/events", data=raw, headers=headers)
    assert response.status_code in (400, 401) and fingerprint() == before


def test_a_2_mb_body_is_refused_and_nothing_is_stored(client):
    huge = envelope("booking.created", booking_payload(notes="z" * 2_000_000))
    before = fingerprint()
    response = post_and_plan(client, huge)
    assert response.status_code == 413 and fingerprint() == before
