"""gunicorn's settings: a worker that slow clients cannot starve, and gunicorn's own lines (start-up,
errors, requests) in Bellhop's log format and level."""

import os
import signal
from importlib.util import find_spec

# gevent's sockets, ssl and locks must replace the standard ones before anything imports them (redis,
# ssl and threading are imported below), or those modules would block a whole worker.
from gevent import monkey

monkey.patch_all()
# psycopg would wait for PostgreSQL through gevent's patched poll, which cost 10 to 35 % of PostgreSQL
# ingest (bench/ingest.py). A worker runs one request at a time in the app by default (web_worker.py), so
# its C wait loses nothing but a few milliseconds in which other connections' bytes wait in the kernel.
if find_spec("psycopg_binary") or find_spec("psycopg_c"):  # wait_c exists only in psycopg's C build
    os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_c")

from webapp.flask_config import flask_config, load_settings, stopping_on_bad_settings  # noqa: E402
from webapp.plumbing import logs  # noqa: E402

with stopping_on_bad_settings():
    logconfig_dict = logs.dict_config(flask_config(load_settings()))
# The request id, as the response returned it, at the end of each access line.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" request_id=%({x-request-id}o)s'

# Each connection is a greenlet: a slow or idle client holds a few kilobytes, not a whole worker.
worker_class = "webapp.web.gunicorn_worker.SlowClientSafeWorker"
worker_connections = 1000
# Which proxies to believe is BELLHOP_PROXY_HOPS's to say, in werkzeug's ProxyFix (webapp/__init__.py). gunicorn's
# own defaults would take X-Forwarded-Proto (and two other scheme headers) from any client on this machine.
forwarded_allow_ips = ""
secure_scheme_headers = {}
forwarder_headers = ""
# One request per connection, so new requests go to whichever worker is free (webapp/web/gunicorn_worker.py).
keepalive = 0


def post_fork(server, worker):
    """Let a worker told to stop while it boots stop at once, rather than after the graceful timeout."""
    # Until the worker installs its own handlers it runs the master's, which only queue the signal in the
    # master's memory, not this copy's: the stop is lost and the master waits graceful_timeout to kill it.
    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(stop_signal, signal.SIG_DFL)


def post_worker_init(worker):
    """Make the unknown-account hash before the first request, so the first sign-in takes as long as the rest."""
    from webapp.domain.staff import accounts

    accounts.dummy_hash()
