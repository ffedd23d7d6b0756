"""Standard Webhooks signatures, in and out, through the standardwebhooks package."""

import binascii
from datetime import datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class BadSignature(Exception):
    """The request's Standard Webhooks headers do not verify."""


def verify(body: bytes, headers, secrets: list[str]) -> None:
    """Accept the body if any configured secret verifies any of its signatures."""
    if not secrets:
        raise BadSignature("no webhook secret is configured (BELLHOP_WEBHOOK_SECRETS)")
    wanted = {name: headers.get(name, "") for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    reason = "signature does not match"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, wanted, json_parse=False)
            return
        except WebhookVerificationError as error:
            reason = str(error)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            # A malformed signature list or a body that is not UTF-8 can never verify.
            reason = "malformed signature header or body"
    raise BadSignature(reason)


def sign(secret: str, message_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    """Return the three Standard Webhooks headers for a body."""
    signature = Webhook(secret).sign(message_id, timestamp, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
