"""The webhook channel: a signed JSON POST to the recipient's URL."""

import json
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import urllib3

from webapp.domain.delivery import permanent, transient
from webapp.signatures import sign
from workers.channels.base import Channel

CONNECT_TIMEOUT = 3.05


class WebhookChannel(Channel):
    """POST each message, signed with Standard Webhooks, over one keep-alive pool per batch."""

    name = "webhook"

    @property
    def concurrency(self) -> int:
        """Posts run in parallel: a receiver's latency, not our CPU, is what a sequential batch waits on."""
        return max(1, self.config["WEBHOOK_CONCURRENCY"])

    @contextmanager
    def opened(self):
        """Share one connection pool (and its keep-alive connections) across a batch."""
        timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=self.config["WEBHOOK_TIMEOUT_SECONDS"])
        # urllib3 rather than requests: this runs per message, and it does the same for less work.
        self.pool = connection_pool(timeout, self.concurrency)
        try:
            yield self
        finally:
            self.pool.clear()

    def send(self, message):
        """Post the message; classify the answer into sent, transient or permanent."""
        url = message.recipient.get("webhook_url")
        if not url:
            raise permanent("recipient has no webhook URL")
        body = json.dumps(message.payload, separators=(",", ":"))
        headers = {"Content-Type": "application/json", "User-Agent": "Bellhop"}
        headers.update(self.signature(message.idempotency_key, body))
        try:
            response = self.pool.request("POST", url, body=body.encode(), headers=headers, redirect=False)
        except urllib3.exceptions.TimeoutError:
            raise transient("timed out") from None
        except urllib3.exceptions.HTTPError as error:
            raise transient(f"connection failed: {error.__class__.__name__}") from None
        except ValueError as error:  # a URL urllib3 cannot use at all
            raise permanent(f"bad webhook URL: {error}") from None
        return classify(response)

    def signature(self, message_id: str, body: str) -> dict[str, str]:
        """Sign the body when an outbound secret is configured."""
        secret = self.config.get("OUTBOUND_WEBHOOK_SECRET")
        return sign(secret, message_id, datetime.now(timezone.utc), body) if secret else {"webhook-id": message_id}


def connection_pool(timeout: urllib3.Timeout, size: int) -> urllib3.PoolManager:
    """A thread-safe pool, keeping one connection per sending thread, that honours an HTTP(S) proxy."""
    proxy = urllib.request.getproxies().get("https") or urllib.request.getproxies().get("http")
    options = {"timeout": timeout, "retries": False, "maxsize": size}
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


def classify(response: urllib3.BaseHTTPResponse) -> str:
    """Return a summary for 2xx; raise a classified error for anything else."""
    # Decode the bytes as they are: guessing the charset of every answer costs more than the send.
    summary = f"HTTP {response.status}: {response.data[:200].decode('utf-8', 'replace')}"
    status = response.status
    if 200 <= status < 300:
        return summary
    if status in (408, 425, 429) or status >= 500:
        raise transient(f"HTTP {status}", retry_after_seconds(response), summary)
    raise permanent(f"HTTP {status}", summary)


def retry_after_seconds(response: urllib3.BaseHTTPResponse) -> float | None:
    """Read Retry-After given in seconds or as an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None
