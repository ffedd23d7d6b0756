"""What the HTTP channels share: one pooled client per batch with explicit timeouts, and error mapping."""

import json
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import urllib3

from webapp.domain.sending.channel_contract import permanent, transient
from workers.channels.base import Channel

CONNECT_TIMEOUT = 3.05


class HttpChannel(Channel):
    """A channel that talks HTTP: a thread-safe keep-alive pool per batch, sized to its parallel sends.

    Subclasses name the settings for their read timeout and their concurrency.
    """

    timeout_setting = ""
    concurrency_setting = ""

    @property
    def concurrency(self) -> int:
        """Requests a worker keeps in flight: a provider's latency, not our CPU, is what a batch waits on."""
        return max(1, self.config[self.concurrency_setting])

    @contextmanager
    def opened(self):
        """Share one connection pool (and its keep-alive connections) across a batch."""
        self.pool = connection_pool(self.config[self.timeout_setting], self.concurrency)
        try:
            yield self
        finally:
            self.pool.clear()


def connection_pool(read_timeout: float, size: int) -> urllib3.PoolManager:
    """A thread-safe pool, keeping one connection per sending thread, that honours an HTTP(S) proxy."""
    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout)
    proxy = urllib.request.getproxies().get("https") or urllib.request.getproxies().get("http")
    options = {"timeout": timeout, "retries": False, "maxsize": size}
    return urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)


def request(pool: urllib3.PoolManager, method: str, url: str, **options) -> urllib3.BaseHTTPResponse:
    """Make one request; a timeout or broken connection becomes a transient error, a bad URL a permanent one."""
    try:
        return pool.request(method, url, redirect=False, **options)
    except urllib3.exceptions.TimeoutError:
        raise transient("timed out") from None
    except urllib3.exceptions.HTTPError as error:
        raise transient(f"connection failed: {error.__class__.__name__}") from None
    except ValueError as error:  # a URL urllib3 cannot use at all
        raise permanent(f"bad URL: {error}") from None


def summary(response: urllib3.BaseHTTPResponse) -> str:
    """The first bytes of an answer, for the attempt record."""
    # Decode the bytes as they are: guessing the charset of every answer costs more than the send.
    return f"HTTP {response.status}: {response.data[:200].decode('utf-8', 'replace')}"


def is_transient_status(status: int) -> bool:
    """Statuses worth retrying: timeouts, too early, too many requests and server errors."""
    return status in (408, 425, 429) or status >= 500


def retry_after_seconds(response: urllib3.BaseHTTPResponse) -> float | None:
    """Read Retry-After given in seconds or as an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def json_body(response: urllib3.BaseHTTPResponse) -> dict:
    """A provider's JSON answer; anything else (a proxy's error page) reads as empty."""
    try:
        answer = json.loads(response.data or b"{}")
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
