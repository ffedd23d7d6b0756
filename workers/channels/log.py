"""The log channel: messages go to the worker's log. The embedded default for local use."""

import logging

from workers.channels.base import Channel

log = logging.getLogger("bellhop.channels.log")


class LogChannel(Channel):
    """Write each message to the log instead of sending it anywhere."""

    name = "log"

    def send(self, message):
        """Log the message in one line a person can read."""
        recipient = message.recipient
        log.info(
            "notification %s (%s) to %s [%s]: %s | %s",
            message.notification_id,
            message.type,
            recipient.get("name") or recipient["external_id"],
            recipient["external_id"],
            message.subject,
            message.body.replace("\n", " "),
        )
        return "logged"
