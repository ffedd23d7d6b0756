"""The webhook channel: a signed JSON POST to the recipient's URL."""

import json
from contextlib import contextmanager
from datetime import datetime, timezone

import urllib3

from webapp.domain.sending.channel_contract import permanent, transient
from webapp.plumbing.signatures import sign
from workers.channels import egress, http


class WebhookChannel(http.HttpChannel):
    """POST each message, signed with Standard Webhooks, over one keep-alive pool per batch."""

    name = "webhook"
    timeout_setting = "WEBHOOK_TIMEOUT_SECONDS"
    concurrency_setting = "WEBHOOK_CONCURRENCY"

    @contextmanager
    def opened(self):
        """A batch's pool, whose connections refuse addresses the allowlist does not permit."""
        self.allowlist, self.checked_urls = egress.Allowlist(self.config["WEBHOOK_ALLOWLIST"]), set()
        with super().opened():
            if type(self.pool) is urllib3.PoolManager:  # through a proxy, the peer is the proxy: DNS check only
                self.pool.pool_classes_by_scheme = egress.guarded_pool_classes(self.allowlist)
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
            self.check(url)
            response = http.request(self.pool, "POST", url, body=body.encode(), headers=headers)
        except egress.EgressRefused as error:
            raise permanent(f"refused: {error}") from None
        return classify(response)

    def check(self, url: str) -> None:
        """Check a URL's scheme and addresses once per batch: a burst posts to the same few receivers."""
        if url not in self.checked_urls:
            egress.check_url(url, self.allowlist)
            self.checked_urls.add(url)

    def signature(self, message_id: str, body: str) -> dict[str, str]:
        """Sign the body when an outbound secret is configured."""
        secret = self.config.get("OUTBOUND_WEBHOOK_SECRET")
        return sign(secret, message_id, datetime.now(timezone.utc), body) if secret else {"webhook-id": message_id}


def classify(response: urllib3.BaseHTTPResponse) -> str:
    """Return a summary for 2xx; raise a classified error for anything else."""
    summary, status = http.summary(response), response.status
    if 200 <= status < 300:
        return summary
    if http.is_transient_status(status):
        raise transient(f"HTTP {status}", http.retry_after_seconds(response), summary)
    raise permanent(f"HTTP {status}", summary)
