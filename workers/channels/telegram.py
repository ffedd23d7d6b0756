"""The Telegram channel: the Bot API's sendMessage."""

import json

import urllib3

from webapp.domain.sending.channel_contract import permanent, transient
from workers.channels import http

MAX_TEXT = 4096  # sendMessage refuses longer texts
# Answers that mean the chat can never be written to again (403 and 400 descriptions of the Bot API).
DEAD_CHAT = ("bot was blocked by the user", "chat not found", "user is deactivated", "bot was kicked")


class TelegramChannel(http.HttpChannel):
    """Send each message to the recipient's chat through a Telegram bot."""

    name = "telegram"
    timeout_setting = "TELEGRAM_TIMEOUT_SECONDS"
    concurrency_setting = "TELEGRAM_CONCURRENCY"

    def send(self, message):
        """Post the text to the recipient's chat; return the new message's id."""
        chat_id = message.recipient.get("telegram_chat_id")
        if not chat_id:
            raise permanent("recipient has no Telegram chat id")
        token = self.config["TELEGRAM_BOT_TOKEN"]
        if not token:
            raise permanent("Telegram is not configured: set TELEGRAM_BOT_TOKEN")
        text = message.body
        if len(text) > MAX_TEXT:
            raise permanent(f"Telegram text is {len(text)} characters; sendMessage accepts at most {MAX_TEXT}")
        url = f"{self.config['TELEGRAM_BASE_URL'].rstrip('/')}/bot{token}/sendMessage"
        body = json.dumps({"chat_id": chat_id, "text": text}).encode()
        response = http.request(
            self.pool, "POST", url, body=body, headers={"Content-Type": "application/json", "User-Agent": "Bellhop"}
        )
        return classify(response)


def classify(response: urllib3.BaseHTTPResponse) -> str:
    """Summarise a sent message; raise a classified error for the Bot API's error answers."""
    answer = http.json_body(response)
    if response.status == 200 and answer.get("ok"):
        return f"telegram message {answer.get('result', {}).get('message_id')}"
    code = answer.get("error_code", response.status)
    detail = f"Telegram {code}: {answer.get('description', http.summary(response))}"
    if http.is_transient_status(response.status):
        # The Bot API says when to come back in the body, not (only) in a header.
        retry_after = answer.get("parameters", {}).get("retry_after") or http.retry_after_seconds(response)
        raise transient(detail, float(retry_after) if retry_after else None, http.summary(response))
    description = str(answer.get("description", "")).lower()
    dead = any(sign in description for sign in DEAD_CHAT)
    raise permanent(detail, http.summary(response), dead_address=dead)
