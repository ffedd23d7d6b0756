"""Bellhop's Procfile processes, started for real as a platform would start them."""

import os
import re
import shlex
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from redis import Redis
from rq import Worker
from rq_scheduler import Scheduler

from tests.support import services
from tests.support.apps import TestConfig
from webapp.flask_config import PROJECT_ROOT

PROCFILE = PROJECT_ROOT / "Procfile"
# ${NAME:-default} and $NAME, as the shell a platform runs the Procfile with expands them.
VARIABLE = re.compile(r"\$\{(\w+):-([^}]*)\}|\$(\w+)")


def process_env(database_url: str, redis_url: str) -> dict:
    """Settings for a Bellhop process pointed at these servers: the test secrets, the log channel, a fast sweep."""
    return {
        **os.environ,
        "BELLHOP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "BELLHOP_WEBHOOK_SECRETS": TestConfig.WEBHOOK_SECRETS[0],
        "BELLHOP_OUTBOUND_WEBHOOK_SECRET": TestConfig.OUTBOUND_WEBHOOK_SECRET,
        "BELLHOP_CHANNELS": "log",
        "BELLHOP_SWEEP_SECONDS": "2",
        "BELLHOP_WEBHOOK_ALLOWLIST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }


def procfile_entries() -> dict[str, str]:
    """The Procfile's process types and their command lines."""
    lines = [line for line in PROCFILE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {name.strip(): command.strip() for name, command in (line.split(":", 1) for line in lines)}


def procfile_command(kind: str, env: dict) -> list[str]:
    """The Procfile's command for a process type, its variables filled from env, run by this Python."""
    expanded = VARIABLE.sub(lambda found: env.get(found[1] or found[3]) or found[2] or "", procfile_entries()[kind])
    program, *arguments = shlex.split(expanded)
    # python, gunicorn and flask are this virtualenv's: run them as modules of the interpreter running the tests.
    return [sys.executable, *([] if program == "python" else ["-m", program]), *arguments]


def start(kind: str, env: dict, log_path: Path, *extra: str) -> subprocess.Popen:
    """Start one Procfile process, its output in log_path."""
    return subprocess.Popen(
        [*procfile_command(kind, env), *extra],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT,
    )


def stop(processes: list[subprocess.Popen], seconds: float = 30) -> None:
    """Terminate processes still running, then wait for each; kill one that will not go."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def web(env: dict, log_path: Path, workers: int = 2, port: int | None = None):
    """Run the Procfile's web process on a free port (or the one given); yield its base URL."""
    port = port or services.free_port()
    process = start("web", {**env, "PORT": str(port), "WEB_CONCURRENCY": str(workers)}, log_path)
    try:
        services.wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop([process])


def planner(env: dict, log_path: Path) -> subprocess.Popen:
    """`flask events plan` in a process of its own, as an operator or a second machine would run it."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "events", "plan"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=open(log_path, "w"),
        stderr=subprocess.STDOUT,
    )


def wait_for(predicate, seconds: float) -> bool:
    """Poll predicate until it holds or the time is up; return whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def ready(redis_url: str, workers: int = 1, with_scheduler: bool = True) -> bool:
    """Whether a scheduler and this many RQ workers have registered in Redis, so work sent now is picked up."""
    redis = Redis.from_url(redis_url)
    schedulers = redis.keys(f"{Scheduler.redis_scheduler_namespace_prefix}*")
    return (bool(schedulers) or not with_scheduler) and len(Worker.all(connection=redis)) >= workers


def wait_until_ready(
    redis_url: str, log_dir: Path, workers: int = 1, with_scheduler: bool = True, seconds: float = 60
) -> None:
    """Wait for the scheduler and workers to come up: their start-up is not what a timing test measures."""
    assert wait_for(lambda: ready(redis_url, workers, with_scheduler), seconds), log_tail(log_dir)


def log_tail(workdir: Path) -> str:
    """The end of every process log in a folder, to explain a failed wait."""
    return "\n".join(path.read_text()[-1500:] for path in workdir.glob("*.log"))
