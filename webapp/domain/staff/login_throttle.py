"""Failed sign-ins, counted so guessing is slow and nobody can lock a staff member out.

Three counters in Redis, each kept for the failure window after its last failure:
- an account from one address: after LOGIN_MAX_FAILURES that pair waits out the window;
- one address across accounts: after LOGIN_ADDRESS_MAX_FAILURES that address waits out the window;
- an account from everywhere: past LOGIN_ACCOUNT_FREE_FAILURES each further try waits twice as long
  as the last (1 s, 2 s, 4 s ... at most LOGIN_MAX_DELAY_SECONDS), except from an address the account
  has signed in from lately, so its owner is never held up by somebody else's guessing.

An attempt is counted against its pair and address before its password is checked, in one Redis step,
and taken back if it succeeds: checking first and counting after let guesses made at the same moment on
several web workers all pass. While Redis is away each web process keeps the pair and address limits
itself.
"""

import math
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import exists, select

from webapp.extensions import db
from webapp.models import Staff, StaffSession
from webapp.models.types import utcnow
from webapp.plumbing import outages, queueing

PREFIX = "bellhop:login-failures"
# An address the account signed in from within this time counts as its owner's.
USUAL_ADDRESS_DAYS = 30


@dataclass(frozen=True)
class Hold:
    """Why a sign-in must wait, for how many seconds, and which counter (pair, address, account) holds it."""

    reason: str
    retry_after: int
    counter: str


def keys(email: str, address: str) -> dict[str, str]:
    """The counters a failure from this address on this account adds to."""
    account = email.strip().lower()
    return {
        "pair": f"{PREFIX}:pair:{account}:{address}",
        "address": f"{PREFIX}:address:{address}",
        "account": f"{PREFIX}:account:{account}",
        "last": f"{PREFIX}:account-last:{account}",
    }


# Count the attempt against its pair and address (a new counter lasts the window); take it back if it is held.
RESERVE = """
local pair = redis.call('INCR', KEYS[1])
if pair == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local address = redis.call('INCR', KEYS[2])
if address == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
if pair > tonumber(ARGV[2]) or address > tonumber(ARGV[3]) then
  redis.call('DECR', KEYS[1])
  redis.call('DECR', KEYS[2])
end
return {pair, address, redis.call('GET', KEYS[3]) or '0', redis.call('GET', KEYS[4]) or '0',
        redis.call('TTL', KEYS[1]), redis.call('TTL', KEYS[2])}
"""
# Take an attempt back from counters that still exist (one that ran out must not come back as -1 for ever).
RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('DECR', key) end
end
"""


def hold(email: str, address: str) -> Hold | None:
    """Count this attempt, then say whether it must wait; None lets it go ahead, counted until it succeeds."""
    config, named = current_app.config, keys(email, address)
    try:
        pair, by_address, by_account, last, window = reserve(named)
    except RedisError as error:
        outages.redis().failed("count a sign-in attempt (this process's own counts apply)", error)
        return local_counts().hold(named)
    outages.redis().answered()
    if pair > config["LOGIN_MAX_FAILURES"]:
        return Hold("too many failures for this account from this address", window["pair"], "pair")
    if by_address > config["LOGIN_ADDRESS_MAX_FAILURES"]:
        return Hold("too many failures from this address", window["address"], "address")
    wait = account_delay(by_account) - (time.time() - last)
    if wait > 0 and not usual_address(email, address):
        release(named["pair"], named["address"])
        return Hold("failures for this account from many addresses", math.ceil(wait), "account")
    return None


def reserve(named: dict[str, str]) -> tuple[int, int, int, float, dict[str, int]]:
    """Count an attempt against the pair and address; the counts with it, the account's, and each window left."""
    config = current_app.config
    limits = [
        config["LOGIN_FAILURE_WINDOW_SECONDS"],
        config["LOGIN_MAX_FAILURES"],
        config["LOGIN_ADDRESS_MAX_FAILURES"],
    ]
    counters = [named["pair"], named["address"], named["account"], named["last"]]
    script = queueing.redis_connection().register_script(RESERVE)
    pair, by_address, by_account, last, pair_ttl, address_ttl = script(keys=counters, args=limits)
    windows = {"pair": max(int(pair_ttl), 1), "address": max(int(address_ttl), 1)}
    return int(pair), int(by_address), int(float(by_account)), float(last), windows


def release(*counters: str) -> None:
    """Take an attempt back from these counters."""
    queueing.redis_connection().register_script(RELEASE)(keys=list(counters))


def first_of_its_hold(email: str, address: str, held: Hold) -> bool:
    """Whether no attempt was held by this counter yet in this hold: only the first is logged and audited.

    Every held attempt writing an audit row let one anonymous client write 165 rows a second.
    """
    marker = f"{keys(email, address)[held.counter]}:held"
    try:
        return bool(queueing.redis_connection().set(marker, 1, nx=True, ex=held.retry_after))
    except RedisError:
        return local_counts().first_hold(marker, held.retry_after)


def account_delay(failures: int) -> float:
    """Seconds the account's next try waits after its last failure: doubling past the free failures."""
    config = current_app.config
    over = failures - config["LOGIN_ACCOUNT_FREE_FAILURES"]
    if over < 0:
        return 0.0
    return float(min(2 ** min(over, 32), config["LOGIN_MAX_DELAY_SECONDS"]))


def usual_address(email: str, address: str) -> bool:
    """Whether the account has signed in from this address lately."""
    since = utcnow() - timedelta(days=USUAL_ADDRESS_DAYS)
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    StaffSession.staff_id == Staff.id,
                    Staff.email == email.strip().lower(),
                    StaffSession.address == address,
                    StaffSession.started_at >= since,
                )
            )
        )
    )


def count_failure(email: str, address: str) -> None:
    """The attempt failed: it stays counted, its pair and address windows start again, and the account's grows."""
    window, named = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"], keys(email, address)
    try:
        with queueing.redis_connection().pipeline(transaction=False) as pipe:
            pipe.expire(named["pair"], window).expire(named["address"], window)
            pipe.incr(named["account"]).expire(named["account"], window)
            pipe.set(named["last"], time.time(), ex=window)
            pipe.execute()
    except RedisError as error:
        outages.redis().failed("count a failed sign-in (counted in this process only)", error)


def clear(email: str, address: str) -> None:
    """The attempt succeeded: its pair starts again and the address takes it back; the account's count stays."""
    named = keys(email, address)
    try:
        queueing.redis_connection().delete(named["pair"])
        release(named["address"])
    except RedisError as error:
        outages.redis().failed("clear a sign-in's counter", error)
    local_counts().clear(named)


class LocalCounts:
    """The pair and address limits one web process keeps while Redis is away: weaker than shared ones, not none."""

    def __init__(self, window: int, pair_limit: int, address_limit: int):
        self.window, self.limits = window, {"pair": pair_limit, "address": address_limit}
        self.counts: dict[str, tuple[int, float]] = {}  # counter: (attempts, when it runs out)
        self.holds: dict[str, float] = {}  # a hold already audited: when it ends
        self.lock = threading.Lock()

    def hold(self, named: dict[str, str]) -> Hold | None:
        """Count an attempt against its pair and address; a Hold, taken back, when either is over its limit."""
        now = time.monotonic()
        with self.lock:
            self.forget_old(now)
            for counter in ("pair", "address"):
                attempts, ends = self.counts.get(named[counter], (0, now + self.window))
                self.counts[named[counter]] = (attempts + 1, ends)
            for counter in ("pair", "address"):
                attempts, ends = self.counts[named[counter]]
                if attempts > self.limits[counter]:
                    self.take_back({name: named[name] for name in ("pair", "address")})
                    return Hold(
                        f"too many failures ({counter}, counted here while Redis is away)",
                        math.ceil(ends - now),
                        counter,
                    )
        return None

    def first_hold(self, marker: str, seconds: int) -> bool:
        """Whether this hold has not been seen here yet; it is remembered for its length."""
        now = time.monotonic()
        with self.lock:
            self.forget_old(now)
            if marker in self.holds:
                return False
            self.holds[marker] = now + seconds
            return True

    def clear(self, named: dict[str, str]) -> None:
        """A sign-in succeeded: its pair starts again and the address takes the attempt back."""
        with self.lock:
            self.counts.pop(named["pair"], None)
            if named["address"] in self.counts:
                self.take_back({"address": named["address"]})

    def take_back(self, named: dict[str, str]) -> None:
        """One attempt less on each named counter."""
        for counter in named.values():
            if counter in self.counts:
                attempts, ends = self.counts[counter]
                self.counts[counter] = (attempts - 1, ends)

    def forget_old(self, now: float) -> None:
        """Drop counters whose window ran out, so a long outage does not grow the process."""
        self.counts = {counter: (n, ends) for counter, (n, ends) in self.counts.items() if ends > now}
        self.holds = {marker: ends for marker, ends in self.holds.items() if ends > now}


def local_counts() -> LocalCounts:
    """This app's counts for while Redis is away, made on first use."""
    config = current_app.config
    found = current_app.extensions.get("bellhop_local_login_counts")
    if found is None:
        found = LocalCounts(
            config["LOGIN_FAILURE_WINDOW_SECONDS"], config["LOGIN_MAX_FAILURES"], config["LOGIN_ADDRESS_MAX_FAILURES"]
        )
        current_app.extensions["bellhop_local_login_counts"] = found
    return found
