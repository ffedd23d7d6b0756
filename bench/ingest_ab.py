"""The HTTP ingest ratio at two commits, each measured beside its own bare endpoint, round after round.

`python -m bench.ingest_ab --before 3c05015 --backend postgresql` checks out both commits as worktrees and,
round after round (alternating which goes first), runs for each commit: the bare endpoint, then that commit's
webhook, both under the Procfile's gunicorn settings on a fresh database migrated at that commit, posted the
ingest benchmark's signed `booking.created` events by its client. Each commit's ratio is its accepted rate over
the bare rate measured just before it, so a swing of the machine between the two moves both; the figure that
answers "did the ratio fall" is the median over rounds of after's ratio over before's.
"""

import statistics
import subprocess
import sys
from pathlib import Path

from redis import Redis

from bench.accept_ab import fresh_database, parse, two_checkouts
from bench.ingest import WEB_TIERS, load, signed_requests
from tests.support import services
from tests.support.processes import stop
from tests.support.stack import OUTBOUND, SECRET

MIGRATE = (
    "from flask_migrate import upgrade; from webapp import create_app; from webapp.commands import migrations\n"
    "app = create_app(); migrations.prepare(app)\nwith app.app_context(): upgrade()"
)
# Events carry this hook; nothing sends to it, since no worker runs.
HOOK = "http://127.0.0.1:9/hook"


def environment(checkout: Path, database_url: str, redis_url: str) -> dict:
    """A Bellhop process's settings for one checkout and database."""
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(checkout),
        "BELLHOP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BELLHOP_WEBHOOK_SECRETS": SECRET,
        "BELLHOP_OUTBOUND_WEBHOOK_SECRET": OUTBOUND,
        "BELLHOP_CHANNELS": "none",
        "BELLHOP_WEBHOOK_ALLOWLIST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }


def rate(checkout: Path, app_path: str, env: dict, events: int, log: Path) -> float:
    """Accepted events a second for one app served from checkout."""
    port = services.free_port()
    command = [sys.executable, "-m", "gunicorn", app_path, "--bind", f"127.0.0.1:{port}", *WEB_TIERS["gevent"]]
    with open(log, "a") as output:
        process = subprocess.Popen(command, cwd=checkout, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        services.wait_for_port(port)
        result = load(f"http://127.0.0.1:{port}/webhooks/events", signed_requests(events, HOOK))
    finally:
        stop([process])
    if result["failed"]:
        raise RuntimeError(f"{app_path} at {checkout}: {result['failed']} of {result['count']} not accepted")
    return result["throughput"]


def side_round(checkout: Path, name: str, args, servers: dict, workdir: Path) -> tuple[float, float]:
    """(bare rate, Bellhop's rate) for one commit: a fresh database migrated at it, an emptied Redis."""
    database_url = fresh_database(args.backend, servers["database"], workdir, name)
    env = environment(checkout, database_url, servers["redis"])
    subprocess.run([sys.executable, "-c", MIGRATE], cwd=checkout, env=env, check=True, capture_output=True)
    Redis.from_url(servers["redis"]).flushall()
    bare = rate(checkout, "bench.bare_app:app", env, args.events, workdir / "bare.log")
    return bare, rate(checkout, "wsgi:app", env, args.events, workdir / f"{name}.log")


def main() -> None:
    args = parse(__doc__, "python -m bench.ingest_ab", rounds=10, events=3000)
    ratios = {"before": [], "after": []}
    rates = {"before": [], "after": [], "bare": []}
    with two_checkouts(args, "bellhop-ingest-ab") as (checkouts, redis_url, server_url, workdir):
        servers = {"redis": redis_url, "database": server_url}
        for number in range(args.rounds):
            for side in ("before", "after") if number % 2 == 0 else ("after", "before"):
                bare, bellhop = side_round(checkouts[side], f"ab_{side}_{number}", args, servers, workdir)
                rates["bare"].append(bare)
                rates[side].append(bellhop)
                ratios[side].append(bellhop / bare)
            print(
                f"round {number + 1}: before {rates['before'][-1]:.0f}/s (ratio {ratios['before'][-1]:.3f}), "
                f"after {rates['after'][-1]:.0f}/s (ratio {ratios['after'][-1]:.3f}), bare "
                f"{rates['bare'][-2]:.0f} and {rates['bare'][-1]:.0f}/s; ratio after/before "
                f"{ratios['after'][-1] / ratios['before'][-1]:.3f}",
                flush=True,
            )
    report(args, rates, ratios)


def report(args, rates: dict, ratios: dict) -> None:
    """Medians of each side's rate and ratio, and of the per-round change in the ratio."""
    changes = [after / before for before, after in zip(ratios["before"], ratios["after"], strict=True)]
    print(
        f"{args.backend}, {args.events} events a run, {args.rounds} rounds: accepted/s median before "
        f"{statistics.median(rates['before']):.0f}, after {statistics.median(rates['after']):.0f}; bare "
        f"{min(rates['bare']):.0f}-{max(rates['bare']):.0f}; ratio to bare median before "
        f"{statistics.median(ratios['before']):.3f}, after {statistics.median(ratios['after']):.3f}; "
        f"after/before per round median {statistics.median(changes):.3f} "
        f"(min {min(changes):.3f}, max {max(changes):.3f})"
    )


if __name__ == "__main__":
    main()
