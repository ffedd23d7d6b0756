"""Ingest: signed booking.created events posted concurrently to gunicorn, beside a bare endpoint."""

import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from multiprocessing import Pool

import urllib3

from tests.support import services
from tests.support.processes import stop
from tests.support.stack import SECRET, Stack
from webapp.commands.demo import booking_payload, event
from webapp.plumbing.signatures import sign

# The web tier as the Procfile runs it (gunicorn.conf.py: gevent workers), and the sync workers it replaced.
WEB_TIERS = {
    "gevent": ["--config", "gunicorn.conf.py", "--workers", "2"],
    "sync": ["--config", "bench/gunicorn_sync.conf.py", "--workers", "2", "--worker-class", "sync"],
}
GUNICORN = WEB_TIERS["gevent"]
CLIENT_PROCESSES, THREADS_PER_PROCESS = 2, 8


def signed_requests(count: int, hook_url: str) -> list[tuple[str, dict]]:
    """Pre-sign distinct booking.created events, so the client spends no time signing."""
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=3)
    batch = []
    for n in range(count):
        payload = booking_payload(
            f"bench-{uuid.uuid4().hex}", start + timedelta(minutes=30 * (n % 500)), 60, "Code Review"
        )
        # A client per booking and a pool of experts, as on a real platform (not two hot rows for every
        # event); both reachable, so every reminder is a real pending row.
        people = {"client": f"bench-client-{n}", "expert": f"bench-expert-{n % 100}"}
        for role, person in people.items():
            payload[f"{role}_id"] = person
            payload[role] = {**payload[role], "id": person, "webhook_url": hook_url}
        body = json.dumps(event("booking.created", payload))
        headers = sign(SECRET, f"evt_{uuid.uuid4().hex}", datetime.now(timezone.utc), body)
        batch.append((body, {**headers, "Content-Type": "application/json"}))
    return batch


def post_share(args) -> tuple[int, int]:
    """One client process: post its share over a keep-alive pool; return (ok, failed)."""
    url, share = args
    # urllib3, not requests: a heavier client would cap the bare endpoint and flatter the ratio.
    pool = urllib3.PoolManager(maxsize=THREADS_PER_PROCESS, retries=False, timeout=60)

    def post(item):
        body, headers = item
        return pool.request("POST", url, body=body.encode(), headers=headers).status

    with ThreadPoolExecutor(THREADS_PER_PROCESS) as executor:
        codes = list(executor.map(post, share))
    ok = sum(1 for code in codes if code == 202)
    return ok, len(codes) - ok


def load(url: str, batch: list) -> dict:
    """Post every request from several client processes; report accepted requests per second."""
    shares = [(url, batch[n::CLIENT_PROCESSES]) for n in range(CLIENT_PROCESSES)]
    started = time.perf_counter()
    with Pool(CLIENT_PROCESSES) as pool:
        results = pool.map(post_share, shares)
    elapsed = time.perf_counter() - started
    ok = sum(result[0] for result in results)
    return {
        "count": len(batch),
        "accepted": ok,
        "failed": sum(result[1] for result in results),
        "throughput": ok / elapsed,
    }


def serve(stack: Stack, app_path: str, tier: str = "gevent") -> tuple[subprocess.Popen, str]:
    """Start gunicorn for an app on a free port, with one of the web tiers' settings."""
    port = services.free_port()
    process = stack.spawn(
        f"gunicorn-{tier}-{app_path.replace(':', '-')}",
        [sys.executable, "-m", "gunicorn", app_path, "--bind", f"127.0.0.1:{port}", *WEB_TIERS[tier]],
    )
    services.wait_for_port(port)
    return process, f"http://127.0.0.1:{port}/webhooks/events"


def ingest(stack: Stack, count: int, tier_rounds: int = 3) -> dict:
    """Bellhop's webhook against the bare endpoint and the write-only floor, same gunicorn and client, same run;
    and Bellhop on the Procfile's gevent workers against the sync workers used before, alternating rounds
    (this machine's noise is larger than the difference), each figure the median round."""
    figures = {
        name: measure(stack, app_path, tier, count)
        for name, app_path, tier in (
            ("bare", "bench.bare_app:app", "gevent"),
            ("floor", "bench.floor_app:app", "gevent"),
            ("bare_sync", "bench.bare_app:app", "sync"),
        )
    }
    rounds = {"bellhop_sync": [], "bellhop": []}
    for _ in range(tier_rounds):
        for name, tier in (("bellhop_sync", "sync"), ("bellhop", "gevent")):
            rounds[name].append(measure(stack, "wsgi:app", tier, count))
    for name, results in rounds.items():
        median = sorted(results, key=lambda result: result["throughput"])[len(results) // 2]
        figures[name] = {**median, "rounds": [round(result["throughput"]) for result in results]}
    figures["ratio"] = figures["bellhop"]["throughput"] / figures["bare"]["throughput"]
    figures["floor_ratio"] = figures["floor"]["throughput"] / figures["bare"]["throughput"]
    figures["sync_ratio"] = figures["bellhop_sync"]["throughput"] / figures["bare_sync"]["throughput"]
    figures["gevent_over_sync"] = figures["bellhop"]["throughput"] / figures["bellhop_sync"]["throughput"]
    return figures


def measure(stack: Stack, app_path: str, tier: str, count: int) -> dict:
    """Post count fresh events to one app on a freshly emptied stack."""
    stack.reset()
    process, url = serve(stack, app_path, tier)
    try:
        return load(url, signed_requests(count, stack.receiver_url))
    finally:
        stop([process])
