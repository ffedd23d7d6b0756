"""The webhook channel: a signed JSON POST to the recipient's URL."""

import json
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import requests

from webapp.domain.delivery import permanent, transient
from webapp.signatures import sign
from workers.channels.base import Channel

CONNECT_TIMEOUT = 3.05


class WebhookChannel(Channel):
    """POST each message, signed with Standard Webhooks, over one keep-alive session per batch."""

    name = "webhook"

    @contextmanager
    def opened(self):
        """Share one HTTP session (and its keep-alive connections) across a batch."""
        with requests.Session() as session:
            # Read proxy settings once per batch, not on every request (requests rescans the environment).
            session.proxies = urllib.request.getproxies()
            session.trust_env = False
            self.session = session
            yield self

    def send(self, message):
        """Post the message; classify the answer into sent, transient or permanent."""
        url = message.recipient.get("webhook_url")
        if not url:
            raise permanent("recipient has no webhook URL")
        body = json.dumps(message.payload, separators=(",", ":"))
        headers = {"Content-Type": "application/json", "User-Agent": "Bellhop"}
        headers.update(self.signature(message.idempotency_key, body))
        try:
            response = self.session.post(url, data=body.encode(), headers=headers, allow_redirects=False,
                                         timeout=(CONNECT_TIMEOUT, self.config["WEBHOOK_TIMEOUT_SECONDS"]))
        except requests.Timeout:
            raise transient("timed out") from None
        except requests.RequestException as error:
            raise transient(f"connection failed: {error.__class__.__name__}") from None
        return classify(response)

    def signature(self, message_id: str, body: str) -> dict[str, str]:
        """Sign the body when an outbound secret is configured."""
        secret = self.config.get("OUTBOUND_WEBHOOK_SECRET")
        return sign(secret, message_id, datetime.now(timezone.utc), body) if secret else {"webhook-id": message_id}


def classify(response: requests.Response) -> str:
    """Return a summary for 2xx; raise a classified error for anything else."""
    # Decode the bytes as they are: guessing the charset of every answer costs more than the send.
    summary = f"HTTP {response.status_code}: {response.content[:200].decode('utf-8', 'replace')}"
    status = response.status_code
    if 200 <= status < 300:
        return summary
    if status in (408, 425, 429) or status >= 500:
        raise transient(f"HTTP {status}", retry_after_seconds(response), summary)
    raise permanent(f"HTTP {status}", summary)


def retry_after_seconds(response: requests.Response) -> float | None:
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
