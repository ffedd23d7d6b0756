"""Loopback stand-ins for providers the tests cannot reach, answering as their documented APIs do.

- Twilio's Messages API: form-encoded POST with HTTP Basic auth; 201 with the created
  Message, or an error body {"code", "message", "more_info", "status"}.
- Telegram's Bot API sendMessage: JSON POST to /bot<token>/sendMessage; {"ok": true,
  "result": {...}}, or {"ok": false, "error_code", "description", "parameters"}.
- SMTP: a real SMTP server (aiosmtpd) that keeps what it accepts and can be scripted
  to answer a recipient with a 4xx or 5xx code.
"""

import base64
import hashlib
import hmac
import json
import ssl
import threading
import time
import uuid
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.loopback import LoopbackServer
from tests.support.services import free_port


def settings_for(name: str, server) -> dict:
    """The settings that point Bellhop's channel at a stand-in: smtp, twilio or telegram."""
    if name == "smtp":
        return {"CHANNELS": ["email"], "SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.port}
    if name == "twilio":
        return {
            "CHANNELS": ["sms"],
            "TWILIO_BASE_URL": server.url,
            "TWILIO_ACCOUNT_SID": Twilio.SID,
            "TWILIO_AUTH_TOKEN": Twilio.TOKEN,
            "TWILIO_FROM": Twilio.FROM,
        }
    return {"CHANNELS": ["telegram"], "TELEGRAM_BASE_URL": server.url, "TELEGRAM_BOT_TOKEN": Telegram.TOKEN}


def post_callback(client, callback: dict):
    """Post a provider's signed callback to the app as the public URL reaches it (path and query kept)."""
    parts = urlsplit(callback["url"])
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.post(path, data=callback["form"], headers=callback["headers"])


class StandIn(LoopbackServer):
    """A provider's API on loopback that records requests and answers from a script, then normally."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict, dict, float]] = []
        self.lock = threading.Lock()
        super().__init__(self.handler())

    @property
    def url(self) -> str:
        return self.base_url

    def answer(self, status: int, body: dict, headers: dict | None = None, delay: float = 0.0) -> None:
        """Queue one scripted answer for the next request."""
        self.script.append((status, body, headers or {}, delay))

    def next_answer(self, request: dict) -> tuple[int, dict, dict, float]:
        with self.lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else (*self.success(request), {}, 0.0)

    def success(self, request: dict) -> tuple[int, dict]:
        raise NotImplementedError

    def handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = {"path": self.path, "headers": self.headers, "raw": raw}  # names match in any case
                status, body, headers, delay = stand_in.next_answer(request)
                time.sleep(delay)
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler


class Twilio(StandIn):
    """Twilio's Messages API for one account, and the callbacks Twilio makes: status reports and replies.

    Callbacks are signed as Twilio signs them (twilio.com/docs/usage/security): HMAC-SHA1 under the
    auth token of the URL Twilio calls followed by each form field's name and value, sorted by name,
    base64-encoded in X-Twilio-Signature. The tests check these against the twilio package's own.
    """

    SID, TOKEN, FROM = "AC" + "0" * 32, "twilio-test-token", "+15005550006"

    def __init__(self):
        self.created: dict[str, dict] = {}  # MessageSid: the form it was created with
        super().__init__()

    def status_callback(self, sid: str, status: str, error_code: str | None = None) -> dict:
        """The signed request Twilio makes to a message's StatusCallback when its status changes."""
        form = self.created[sid]
        fields = {
            "AccountSid": self.SID,
            "ApiVersion": "2010-04-01",
            "From": form["From"],
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": form["To"],
        }
        if error_code:
            fields["ErrorCode"] = error_code
        return self.signed(form["StatusCallback"], fields)

    def reply(self, url: str, number: str, body: str, opt_out_type: str | None = None) -> dict:
        """The signed request Twilio makes to a number's messaging URL when someone texts it."""
        sid = "SM" + uuid.uuid4().hex
        fields = {
            "AccountSid": self.SID,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": number,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": self.FROM,
        }
        if opt_out_type:
            fields["OptOutType"] = opt_out_type
        return self.signed(url, fields)

    def signed(self, url: str, fields: dict) -> dict:
        """A callback request: where it goes, its form, and the signature over both."""
        signed_text = url + "".join(name + fields[name] for name in sorted(fields))
        digest = hmac.new(self.TOKEN.encode(), signed_text.encode(), hashlib.sha1).digest()
        return {"url": url, "form": fields, "headers": {"X-Twilio-Signature": base64.b64encode(digest).decode()}}

    def success(self, request):
        expected = f"/2010-04-01/Accounts/{self.SID}/Messages.json"
        auth = "Basic " + base64.b64encode(f"{self.SID}:{self.TOKEN}".encode()).decode()
        if request["headers"].get("Authorization") != auth:
            return 401, {"code": 20003, "message": "Authenticate", "more_info": "", "status": 401}
        if request["path"] != expected:
            return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
        form = {name: values[0] for name, values in parse_qs(request["raw"].decode()).items()}
        request["form"] = form
        sid = "SM" + uuid.uuid4().hex
        self.created[sid] = form
        return 201, {
            "sid": sid,
            "status": "queued",
            "to": form["To"],
            "from": form["From"],
            "body": form["Body"],
            "num_segments": str(segments_by_twilio(form["Body"])),
        }

    def error(self, status: int, code: int, message: str, headers: dict | None = None) -> None:
        """Script an error answer in Twilio's shape."""
        self.answer(
            status,
            {
                "code": code,
                "message": message,
                "status": status,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
            },
            headers,
        )


def segments_by_twilio(body: str) -> int:
    """What the stand-in reports: GSM-7 assumed, as for the plain texts the tests send."""
    return 1 if len(body) <= 160 else -(-len(body) // 153)


class Telegram(StandIn):
    """Telegram's Bot API for one bot."""

    TOKEN = "123456:test-bot-token"

    def success(self, request):
        if request["path"] != f"/bot{self.TOKEN}/sendMessage":
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        request["json"] = json.loads(request["raw"])
        return 200, {
            "ok": True,
            "result": {
                "message_id": len(self.requests),
                "text": request["json"]["text"],
                "chat": {"id": int(request["json"]["chat_id"])},
            },
        }

    def error(self, code: int, description: str, retry_after: int | None = None) -> None:
        """Script an error answer in the Bot API's shape."""
        body = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        self.answer(code, body)


class SmtpServer:
    """A real SMTP server on loopback; refuse_next() scripts a reply to the next recipient.

    With a certificate it can demand STARTTLS or speak TLS from the first byte, and with
    users it demands a login (only over TLS, as a real server would).
    """

    def __init__(self, security: str = "none", cert: tuple[str, str] | None = None, users: dict | None = None):
        self.messages: list = []
        self.raw: list[bytes] = []
        self.recipients: list[list[str]] = []  # each message's RCPT TO addresses
        self.senders: list[str] = []  # each message's MAIL FROM address
        self.peers: list = []
        self.sessions: list = []
        self.refusals: list[str] = []
        self.users = users or {}
        options = {}
        if cert:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*cert)
            if security == "ssl":  # TLS from the first byte; aiosmtpd only knows TLS it negotiated itself
                options = {"ssl_context": context, "auth_require_tls": False}
            else:
                options = {"tls_context": context, "require_starttls": True}
        if self.users:
            options.update(auth_required=True, authenticator=self.authenticate)
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port(), **options)
        self.controller.start()

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        """Accept the users given, by LOGIN or PLAIN."""
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False)

    @property
    def port(self) -> int:
        return self.controller.port

    def refuse_next(self, reply: str) -> None:
        """Answer the next RCPT TO with this reply, e.g. '450 4.2.1 Mailbox busy'."""
        self.refusals.append(reply)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refusals:
            return self.refusals.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.senders.append(envelope.mail_from)  # the Return-Path bounces go to
        self.raw.append(envelope.original_content)  # the bytes as sent, before any parsing
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        self.peers.append(session.peer)
        tls = session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None
        self.sessions.append({"tls": tls, "authenticated": session.authenticated})
        return "250 Message accepted for delivery"

    def stop(self) -> None:
        self.controller.stop()
