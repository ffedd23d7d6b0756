"""The SMS channel: Twilio's Messages REST API."""

import urllib3

from webapp.domain.sending import sms_text
from webapp.domain.sending.channel_contract import Accepted, permanent, transient
from workers.channels import http

# Twilio error codes that mean this number can never receive the message; see twilio.com/docs/api/errors.
UNREACHABLE_NUMBER = {21211, 21214, 21217, 21401, 21407, 21408, 21421, 21610, 21612, 21614}


class SmsChannel(http.HttpChannel):
    """Send each message as an SMS through Twilio, over one keep-alive pool per batch."""

    name = "sms"
    timeout_setting = "SMS_TIMEOUT_SECONDS"
    concurrency_setting = "SMS_CONCURRENCY"

    def send(self, message):
        """Create a Twilio Message; return its sid, status and segment count."""
        number = message.recipient.get("phone")
        if not sms_text.is_e164(number):
            raise permanent(f"phone number {number!r} is not in E.164 form (e.g. +4915112345678)")
        if len(message.body) > sms_text.MAX_BODY:
            raise permanent(f"SMS body is {len(message.body)} characters; Twilio accepts at most {sms_text.MAX_BODY}")
        sid, token = self.config["TWILIO_ACCOUNT_SID"], self.config["TWILIO_AUTH_TOKEN"]
        if not (sid and token and self.config["TWILIO_FROM"]):
            raise permanent("SMS is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM")
        url = f"{self.config['TWILIO_BASE_URL'].rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"
        fields = {"To": number, "From": self.config["TWILIO_FROM"], "Body": message.body}
        if message.notification_id:  # Twilio reports delivery there; test sends have no row to report on
            fields["StatusCallback"] = status_callback_url(self.config["PUBLIC_URL"], message.notification_id)
        headers = urllib3.make_headers(basic_auth=f"{sid}:{token}", user_agent="Bellhop")
        response = http.request(self.pool, "POST", url, fields=fields, encode_multipart=False, headers=headers)
        return classify(response, sms_text.segments(message.body))


def status_callback_url(public_url: str, notification_id: int) -> str:
    """Where Twilio posts this message's delivery reports; the id lets a report match before the sid is stored."""
    return f"{public_url}/webhooks/twilio/status?notification={notification_id}"


def classify(response: urllib3.BaseHTTPResponse, counted_segments: int) -> Accepted:
    """Summarise a created message; raise a classified error for Twilio's error answers."""
    answer = http.json_body(response)
    status = response.status
    if 200 <= status < 300:
        segments = answer.get("num_segments") or counted_segments
        sid = answer.get("sid")
        return Accepted(f"twilio {sid} {answer.get('status')}; segments={segments}", str(sid) if sid else None)
    detail = f"Twilio {answer.get('code', status)}: {answer.get('message', http.summary(response))}"
    if http.is_transient_status(status):
        raise transient(detail, http.retry_after_seconds(response), http.summary(response))
    if answer.get("code") in UNREACHABLE_NUMBER:
        raise permanent(f"unreachable number: {detail}", http.summary(response), dead_address=True)
    raise permanent(detail, http.summary(response))
