"""The channel registry: each channel registers by name, jobs look it up."""

from workers.channels.base import Channel
from workers.channels.email import EmailChannel
from workers.channels.log import LogChannel
from workers.channels.sms import SmsChannel
from workers.channels.telegram import TelegramChannel
from workers.channels.webhook import WebhookChannel

CHANNELS: dict[str, type[Channel]] = {}


def register(channel_class: type[Channel]) -> type[Channel]:
    """Make a channel class available under its name."""
    CHANNELS[channel_class.name] = channel_class
    return channel_class


def get_channel(name: str, config) -> Channel:
    """Return a channel instance for a name, or raise KeyError naming the known ones."""
    try:
        return CHANNELS[name](config)
    except KeyError:
        raise KeyError(f"unknown channel {name!r}; known: {sorted(CHANNELS)}") from None


for channel in (LogChannel, WebhookChannel, EmailChannel, SmsChannel, TelegramChannel):
    register(channel)
