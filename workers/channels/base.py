"""The channel interface: open a connection for a batch, send messages over it."""

from contextlib import contextmanager

from webapp.domain.sending.channel_contract import Outgoing


class Channel:
    """A way of reaching people; subclasses set name and implement send()."""

    name = ""

    def __init__(self, config):
        self.config = config

    @property
    def concurrency(self) -> int:
        """How many messages a batch may have in flight at once; one unless send() is thread-safe."""
        return 1

    @contextmanager
    def opened(self):
        """Hold whatever connection a batch can reuse, and release it after."""
        yield self

    def send(self, message: Outgoing) -> str:
        """Deliver one message and return a summary of the provider's answer.

        Raises DeliveryError (see webapp.domain.sending.attempts) classified as transient or permanent.
        """
        raise NotImplementedError
