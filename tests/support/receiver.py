"""A loopback webhook receiver: verifies Standard Webhooks signatures, answers as scripted."""

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.loopback import LoopbackServer

# A scripted answer of this status resets the connection instead of answering.
RESET = 0


class Receiver(LoopbackServer):
    """Record every POST; answer from a script of (status, headers, delay), then 200."""

    def __init__(self, secret: str):
        self.verifier = Webhook(secret)
        self.received: list[dict] = []
        self.script: list[tuple[int, dict, float]] = []
        self.by_type: dict[str, tuple[int, dict, float]] = {}
        self.on_request = None
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        super().__init__(self.handler())

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    def answer(self, status: int, headers: dict | None = None, delay: float = 0.0) -> None:
        """Queue one scripted answer."""
        self.script.append((status, headers or {}, delay))

    def answer_type(self, kind: str, status: int, headers: dict | None = None) -> None:
        """Answer every message of this type so, whenever it comes and whatever comes before it."""
        self.by_type[kind] = (status, headers or {}, 0.0)

    def next_answer(self, kind: str | None = None) -> tuple[int, dict, float]:
        with self.lock:
            if kind in self.by_type:
                return self.by_type[kind]
            return self.script.pop(0) if self.script else (200, {}, 0.0)

    def count_in_flight(self, change: int) -> None:
        """Track how many requests are being answered at once."""
        with self.lock:
            self.in_flight += change
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def record(self, headers, body: bytes) -> None:
        try:
            self.verifier.verify(body, dict(headers), json_parse=False)
            verified = True
        except WebhookVerificationError:
            verified = False
        with self.lock:
            self.received.append(
                {"headers": dict(headers), "json": json.loads(body), "verified": verified, "at": time.time()}
            )

    def handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.record(self.headers, body)
                if receiver.on_request:
                    receiver.on_request(len(receiver.received))
                status, headers, delay = receiver.next_answer(receiver.received[-1]["json"].get("type"))
                if status == RESET:  # drop the connection with a TCP reset, no answer at all
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                receiver.count_in_flight(+1)
                time.sleep(delay)
                receiver.count_in_flight(-1)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        return Handler
