"""A loopback webhook receiver that only counts arrivals, run as its own process by the benchmarks' stack.

POST anything: answers 200 and records (notification_id, arrival time). GET /stats returns
the arrivals as JSON; POST /reset clears them. HTTP/1.1 keep-alive, like a real endpoint.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.support.loopback import LoopbackServer

ARRIVALS: list[tuple[int | None, float]] = []
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; do not wait on ACKs

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        arrived = time.time()
        if self.path == "/reset":
            with LOCK:
                ARRIVALS.clear()
        else:
            try:
                notification_id = json.loads(body).get("notification_id")
            except ValueError:
                notification_id = None
            with LOCK:
                ARRIVALS.append((notification_id, arrived))
        self.reply(b"ok")

    def do_GET(self):
        with LOCK:
            payload = json.dumps({"count": len(ARRIVALS), "arrivals": ARRIVALS}).encode()
        self.reply(payload)

    def reply(self, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


class CountingServer(LoopbackServer):
    """Room for a whole burst of connections opening at once."""

    backlog = 1024


def main() -> None:
    """Serve on the port given as the first argument until killed."""
    CountingServer(Handler, int(sys.argv[1])).thread.join()


if __name__ == "__main__":
    main()
