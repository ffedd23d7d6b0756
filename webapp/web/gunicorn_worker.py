"""The web tier's gunicorn worker: gevent, so a slow or idle client holds a greenlet, not a process.

Each connection carries one request (gunicorn.conf.py sets keepalive = 0). A client has
BELLHOP_WEB_CLIENT_TIMEOUT_SECONDS to send the whole request, headers and body, which is read into
memory before the app sees it; past that it is answered 408 and dropped, and no worker waited on it.
Then the app runs at most BELLHOP_WEB_REQUESTS_PER_WORKER requests at once per worker, which is what
sync workers did: more would only contend for the GIL and the database.

One request per connection keeps the workers evenly loaded: a kept-alive connection stays with the
worker that accepted it, and under load one worker ended up with most of them (measured: 58 % and
10 % CPU, half the sync workers' ingest rate on PostgreSQL).
"""

import io
import json
import socket

import gevent
from gevent.lock import BoundedSemaphore
from gunicorn.http.body import Body
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.base_async import AsyncWorker
from gunicorn.workers.ggevent import GeventWorker

from webapp.flask_config import load_settings

TIMEOUT_BODY = json.dumps({"error": "the request did not arrive in full in time; nothing was stored"}).encode()
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(TIMEOUT_BODY), TIMEOUT_BODY)
)


class SlowClientSafeWorker(GeventWorker):
    """gunicorn's gevent worker: the whole request read within a deadline before the app runs."""

    def init_process(self):
        settings = load_settings()
        self.client_timeout = settings.WEB_CLIENT_TIMEOUT_SECONDS
        self.body_limit = settings.MAX_CONTENT_LENGTH
        self.app_slots = BoundedSemaphore(settings.WEB_REQUESTS_PER_WORKER)
        super().init_process()

    def handle(self, listener, client, addr):
        client.settimeout(self.client_timeout)  # also bounds writing the answer to a client that never reads
        deadline = gevent.spawn_later(self.client_timeout, cut_off, client)
        gevent.getcurrent().request_deadline = deadline
        try:
            AsyncWorker.handle(self, listener, client, addr)  # a cut-off client reads as a disconnection
        finally:
            deadline.kill(block=False)

    def handle_request(self, listener_name, req, sock, addr):
        deadline = gevent.getcurrent().request_deadline
        try:
            whole = read_body_first(req, self.body_limit)
        except (NoMoreData, OSError):
            raise StopIteration("the client was cut off or went away while sending its body") from None
        if deadline.dead:
            raise StopIteration("cut off")
        deadline.kill(block=False)  # the request is in: the app's time is its own
        with self.app_slots:
            keep_open = super().handle_request(listener_name, req, sock, addr)
        if not whole:
            raise StopIteration("the rest of an oversized body is still unread")
        return keep_open


def cut_off(client) -> None:
    """Tell a client that ran out of time so, and hang up; its reader sees the end of the stream."""
    try:
        client.sendall(REQUEST_TIMEOUT)
        client.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # it is gone already


def read_body_first(req, limit: int) -> bool:
    """Read the request's body into memory, up to one byte past limit; return whether it was all read.

    The app then reads from memory. Past the limit it reads on from the socket, and refuses with 413.
    """
    head = req.body.read(limit + 1)
    rest = req.body.reader
    req.body = Body(Replay(head, rest if len(head) > limit else None))
    return len(head) <= limit


class Replay:
    """A body reader that gives back what was read ahead, then (if any) what the socket still holds."""

    def __init__(self, head: bytes, rest=None):
        self.head, self.rest = io.BytesIO(head), rest

    def read(self, size: int) -> bytes:
        chunk = self.head.read(size)
        if chunk or self.rest is None:
            return chunk
        return self.rest.read(size)
