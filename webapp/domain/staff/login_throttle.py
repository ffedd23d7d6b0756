"""Failed sign-ins, counted so guessing is slow and nobody can lock a staff member out.

Three counters in Redis, each kept for the failure window after its last failure:
- an account from one address: after LOGIN_MAX_FAILURES that pair waits out the window;
- one address across accounts: after LOGIN_ADDRESS_MAX_FAILURES that address waits out the window;
- an account from everywhere: past LOGIN_ACCOUNT_FREE_FAILURES each further try waits twice as long
  as the last (1 s, 2 s, 4 s ... at most LOGIN_MAX_DELAY_SECONDS), except from an address the account
  has signed in from lately, so its owner is never held up by somebody else's guessing.
"""

import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import exists, select

from webapp.extensions import db
from webapp.models import Staff, StaffSession
from webapp.models.types import utcnow
from webapp.plumbing import queueing

log = logging.getLogger(__name__)
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


def hold(email: str, address: str) -> Hold | None:
    """Whether a sign-in to this account from this address must wait; None when it may go ahead."""
    config, named = current_app.config, keys(email, address)
    try:
        pair, by_address, by_account, last, window = counts(named)
    except RedisError:
        log.warning("sign-in throttle unavailable; letting the attempt through", exc_info=True)
        return None
    if pair >= config["LOGIN_MAX_FAILURES"]:
        return Hold("too many failures for this account from this address", window["pair"], "pair")
    if by_address >= config["LOGIN_ADDRESS_MAX_FAILURES"]:
        return Hold("too many failures from this address", window["address"], "address")
    wait = account_delay(by_account) - (time.time() - last)
    if wait > 0 and not usual_address(email, address):
        return Hold("failures for this account from many addresses", math.ceil(wait), "account")
    return None


def first_of_its_hold(email: str, address: str, held: Hold) -> bool:
    """Whether no attempt was held by this counter yet in this hold: only the first is logged and audited.

    Every held attempt writing an audit row let one anonymous client write 165 rows a second.
    """
    marker = f"{keys(email, address)[held.counter]}:held"
    try:
        return bool(queueing.redis_connection().set(marker, 1, nx=True, ex=held.retry_after))
    except RedisError:
        return True


def counts(named: dict[str, str]) -> tuple[int, int, int, float, dict[str, int]]:
    """The three counts, the account's last failure time, and seconds left in each window."""
    redis = queueing.redis_connection()
    with redis.pipeline(transaction=False) as pipe:
        pipe.mget(named["pair"], named["address"], named["account"], named["last"])
        pipe.ttl(named["pair"]).ttl(named["address"])
        values, pair_ttl, address_ttl = pipe.execute()
    pair, by_address, by_account, last = (float(value or 0) for value in values)
    return int(pair), int(by_address), int(by_account), last, {"pair": max(pair_ttl, 1), "address": max(address_ttl, 1)}


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
    """Add a failed sign-in to the pair, address and account counters."""
    window, named = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"], keys(email, address)
    try:
        with queueing.redis_connection().pipeline(transaction=False) as pipe:
            for name in ("pair", "address", "account"):
                pipe.incr(named[name]).expire(named[name], window)
            pipe.set(named["last"], time.time(), ex=window)
            pipe.execute()
    except RedisError:
        log.warning("sign-in throttle unavailable; failure not counted", exc_info=True)


def clear(email: str, address: str) -> None:
    """A successful sign-in clears its own pair's count; guessing from elsewhere keeps the account's."""
    try:
        queueing.redis_connection().delete(keys(email, address)["pair"])
    except RedisError:
        log.warning("sign-in throttle unavailable; counter not cleared", exc_info=True)
