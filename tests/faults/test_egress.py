"""The webhook channel and SSRF: only public addresses, unless the allowlist in config permits them."""

import math
import time

import pytest
import urllib3

from tests.support.factories import envelope, notifications, post_and_plan, row_counts
from workers.channels import egress

HOOK_ONLY = {"CHANNELS": [], "WEBHOOK_ALLOWLIST": []}


@pytest.fixture
def config_overrides():
    return dict(HOOK_ONLY)


def welcome_to(client, url: str, person: str = "u-1"):
    return post_and_plan(client, envelope("user.welcome", {"user_id": person, "webhook_url": url}))


def failure_of_only_message() -> str:
    [row] = notifications()
    assert row.status.value == "failed", row.status
    return row.last_error


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service (link-local)
        "http://10.0.0.5/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.10/hook",  # private ranges
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://0.0.0.0:80/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "https://[fd00::1]/hook",  # IPv6 unique-local
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(client, run_jobs, url):
    welcome_to(client, url)
    run_jobs()
    assert "not a public address" in failure_of_only_message()


def test_loopback_is_refused_even_with_a_receiver_listening_there(app, client, run_jobs, receiver):
    welcome_to(client, receiver.url)
    run_jobs()
    assert "127.0.0.1" in failure_of_only_message() and receiver.received == []


def test_a_name_that_resolves_to_a_private_address_is_refused(client, run_jobs, receiver):
    welcome_to(client, receiver.url.replace("127.0.0.1", "localhost"))
    run_jobs()
    assert failure_of_only_message().startswith("permanent: refused: localhost is ") and receiver.received == []


def test_the_allowlist_lets_a_network_or_a_host_name_through(app, client, run_jobs, receiver):
    app.config["WEBHOOK_ALLOWLIST"] = ["127.0.0.0/8"]
    welcome_to(client, receiver.url, "u-1")
    run_jobs()
    app.config["WEBHOOK_ALLOWLIST"] = ["localhost"]
    welcome_to(client, receiver.url.replace("127.0.0.1", "localhost"), "u-2")
    time.sleep(math.ceil(time.time()) - time.time() + 0.3)  # its wake-up is for the coming second
    run_jobs()
    assert {row.status.value for row in notifications()} == {"sent"} and len(receiver.received) == 2


def test_a_redirect_is_not_followed(app, client, run_jobs, receiver):
    app.config["WEBHOOK_ALLOWLIST"] = ["127.0.0.1"]
    receiver.answer(302, {"Location": "http://169.254.169.254/latest/meta-data/"})
    welcome_to(client, receiver.url)
    run_jobs()
    assert failure_of_only_message().startswith("permanent: HTTP 302") and len(receiver.received) == 1


def test_urls_that_are_not_http_are_refused_at_the_door(client):
    before = row_counts()
    for url in ("ftp://example.com/hook", "file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL"):
        assert welcome_to(client, url).status_code == 400
    assert row_counts() == before


def test_the_connection_itself_checks_its_peer(receiver):
    """The second layer: even a URL that skipped the DNS check cannot open a socket to a refused address."""
    pool = urllib3.PoolManager(retries=False)
    pool.pool_classes_by_scheme = egress.guarded_pool_classes(egress.Allowlist([]))
    with pytest.raises(egress.EgressRefused):
        pool.request("POST", receiver.url, body=b"{}")
    assert receiver.received == []
    allowed = urllib3.PoolManager(retries=False)
    allowed.pool_classes_by_scheme = egress.guarded_pool_classes(egress.Allowlist(["127.0.0.1"]))
    assert allowed.request("POST", receiver.url, body=b"{}").status == 200
