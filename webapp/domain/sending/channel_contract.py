"""What a channel is given and what it answers: the message to send, an acceptance, or a delivery error."""

from dataclasses import dataclass, field


class DeliveryError(Exception):
    """A channel could not deliver; transient errors are retried, permanent ones are not."""

    def __init__(
        self,
        message: str,
        transient: bool,
        retry_after: float | None = None,
        summary: str | None = None,
        dead_address: bool = False,
    ):
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after
        self.summary = summary
        # The provider says this address can never be reached: it goes on the suppression list.
        self.dead_address = dead_address


def transient(message: str, retry_after: float | None = None, summary: str | None = None) -> DeliveryError:
    """Build an error worth retrying: timeouts, 429, 5xx."""
    return DeliveryError(message, True, retry_after, summary)


def permanent(message: str, summary: str | None = None, dead_address: bool = False) -> DeliveryError:
    """Build an error no retry can fix: other 4xx, a missing address; dead_address when it never will work."""
    return DeliveryError(message, False, None, summary, dead_address)


@dataclass(frozen=True)
class Accepted:
    """A provider's acceptance: a summary for the attempt log, and its id for the message if it gives one."""

    summary: str
    provider_ref: str | None = None


@dataclass
class Outgoing:
    """What a channel needs to send one message."""

    notification_id: int
    idempotency_key: str
    type: str
    channel: str
    subject: str
    body: str
    recipient: dict
    payload: dict = field(default_factory=dict)
    unsubscribe_url: str | None = None
