"""The accept path's cost at two commits, interleaved: each accept timed in process on the same servers.

`python -m bench.accept_ab --before 3c05015 --backend postgresql` checks out both commits as worktrees and,
round after round, alternating which goes first, gives each a fresh database on one Redis and one database
server, then times `ingest.accept` (validate, store in the inbox, wake the planner) over signed-size
`booking.created` events shaped as the HTTP ingest benchmark's, one after another. The HTTP ingest benchmark's
ratio swings by more than the few per cent a change to accept costs; this measures only the accept path,
both databases' work included, with the before commit as the same-run baseline.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.support import services
from webapp.flask_config import PROJECT_ROOT

# Run in each worktree: migrate a fresh database, accept warm-up events, then time count accepts.
CHILD = """
import json, sys, time, uuid
from datetime import datetime, timedelta, timezone
from flask_migrate import upgrade

from webapp import create_app
from webapp.flask_config import load_config
from webapp.commands.demo import booking_payload, event
from webapp.domain.accepting.inbox import accept
from webapp.models import EventSource

database_url, redis_url, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = {"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "CHANNELS": []}
app = create_app(type("AcceptConfig", (load_config(BELLHOP_ENV="test"),), settings))
start = datetime.now(timezone.utc) + timedelta(days=2)


def body(n):
    # As the HTTP ingest benchmark's: a client per booking, a pool of experts, both reachable by webhook.
    payload = booking_payload(f"ab-{n}", start + timedelta(minutes=30 * (n % 500)), 60, "Code Review")
    for role, person in (("client", f"client-{n}"), ("expert", f"expert-{n % 100}")):
        payload[f"{role}_id"] = person
        payload[role] = {**payload[role], "id": person, "webhook_url": "http://127.0.0.1:9/hook"}
    return json.dumps(event("booking.created", payload))


try:
    from webapp.commands.migrations import prepare
    prepare(app)
except ImportError:
    pass  # a commit from before `flask db` was loaded lazily: create_app bound Flask-Migrate itself
with app.app_context():
    upgrade()
    bodies = [body(n) for n in range(count + 200)]
    for n in range(200):
        accept(bodies[n], f"warm-{n}", EventSource.WEBHOOK)
    began = time.perf_counter()
    for n in range(200, count + 200):
        accept(bodies[n], f"evt-{uuid.uuid4().hex}", EventSource.WEBHOOK)
    print(json.dumps({"ms_per_accept": 1000 * (time.perf_counter() - began) / count}))
"""


def worktree(commit: str, root: Path) -> Path:
    """A detached checkout of commit under root."""
    path = root / commit.replace("/", "_")
    subprocess.run(["git", "worktree", "add", "--detach", "-f", str(path), commit], cwd=PROJECT_ROOT, check=True)
    return path


def fresh_database(backend: str, server_url: str | None, workdir: Path, name: str) -> str:
    """A new empty database for one run."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / name}.db"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def timed(checkout: Path, database_url: str, redis_url: str, count: int) -> float:
    """Milliseconds per accept at one checkout."""
    run = subprocess.run(
        [sys.executable, "-c", CHILD, database_url, redis_url, str(count)],
        cwd=checkout,
        env={"PYTHONPATH": str(checkout), "BELLHOP_ENV": "test", "LOG_LEVEL": "WARNING", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])["ms_per_accept"]


def parse(description: str, prog: str, rounds: int, events: int) -> argparse.Namespace:
    """The options every A/B benchmark takes: the two commits, the database, how many rounds and events."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", default="HEAD")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--events", type=int, default=events)
    return parser.parse_args()


@contextmanager
def two_checkouts(args: argparse.Namespace, prefix: str):
    """Yield (checkouts by side, Redis URL, database server URL or None, work folder); tear all down after."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    redis_process, redis_url = services.start_redis(workdir)
    stop_db, server_url = (None, None)
    if args.backend == "postgresql":
        stop_db, server_url = services.start_postgres(Path(tempfile.mkdtemp(prefix=f"{prefix}-pg-")))
    checkouts = {"before": worktree(args.before, workdir), "after": worktree(args.after, workdir)}
    try:
        yield checkouts, redis_url, server_url, workdir
    finally:
        redis_process.terminate()
        if stop_db:
            subprocess.run(stop_db, check=False, capture_output=True)
        for path in checkouts.values():
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=PROJECT_ROOT, check=False)


def main() -> None:
    args = parse(__doc__, "python -m bench.accept_ab", rounds=5, events=2000)
    figures = {"before": [], "after": []}
    with two_checkouts(args, "bellhop-accept-ab") as (checkouts, redis_url, server_url, workdir):
        for round_number in range(args.rounds):
            order = ["before", "after"] if round_number % 2 == 0 else ["after", "before"]
            for side in order:
                url = fresh_database(args.backend, server_url, workdir, f"ab_{side}_{round_number}")
                figures[side].append(timed(checkouts[side], url, redis_url, args.events))
            ratio = figures["after"][-1] / figures["before"][-1]
            print(
                f"round {round_number + 1}: before {figures['before'][-1]:.3f} ms, "
                f"after {figures['after'][-1]:.3f} ms, after/before {ratio:.3f}",
                flush=True,
            )
    ratios = [after / before for before, after in zip(figures["before"], figures["after"], strict=True)]
    print(
        f"{args.backend}, {args.events} accepts a run: before median {statistics.median(figures['before']):.3f} ms, "
        f"after median {statistics.median(figures['after']):.3f} ms; after/before per round median "
        f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
