"""Every benchmark runs at tiny sizes, so the benchmarks cannot rot (speed is not asserted here)."""

import json
import subprocess
import sys

import pytest

from tests.support.services import IN_CI, postgres_bindir, redis_binary
from webapp.flask_config import PROJECT_ROOT

pytestmark = pytest.mark.slow  # make test-fast leaves it out


def on_one_worker(backend: str):
    """The backend as a parameter whose tests one xdist worker runs, so its smoke run happens once."""
    return pytest.param(backend, marks=pytest.mark.xdist_group(f"bench_smoke_{backend}"))


@pytest.fixture(scope="module", params=[on_one_worker("sqlite"), on_one_worker("postgresql")])
def smoke(request, tmp_path_factory):
    """Every benchmark at smoke sizes on one database: the printed table and the figures by backend."""
    if not (redis_binary() and postgres_bindir()) and not IN_CI:
        pytest.skip("benchmarks need redis-server and PostgreSQL")
    out = tmp_path_factory.mktemp("bench") / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--backend", request.param, "--json", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert list(results) == [request.param]
    return run.stdout, results


def test_every_benchmark_prints_its_row_with_a_baseline(smoke):
    table, results = smoke
    (backend,) = results
    for name in (
        "burst",
        "vs naive",
        "lateness",
        "precision",
        "ingest",
        "sustained",
        "planning lag",
        "reminder script",
        "early sending",
        "capacity: CPU ms per accepted event",
        "capacity: burst",
        "Redis bytes",
        "scale",
        "dashboard",
        "dashboards polling",
    ):
        assert name in table, name
    assert f"## {backend}" in table


def test_every_message_of_every_burst_arrived_exactly_once(smoke):
    _, results = smoke
    for backend, rows in results.items():
        bursts = [row["detail"] for row in rows if row["name"].startswith("scale")]
        bursts += [row["detail"]["bellhop"] for row in rows if row["name"].endswith("throughput (msg/s)")]
        assert bursts, backend
        for burst in bursts:
            assert burst["received"] == burst["distinct"] == burst["count"]


def test_every_ingest_request_was_accepted_by_bellhop_and_by_the_floor(smoke):
    _, results = smoke
    for backend, rows in results.items():
        ingest = next(row["detail"] for row in rows if row["name"].startswith("ingest (accepted"))
        for app in ("bare", "floor", "bellhop", "bare_sync", "bellhop_sync"):
            assert ingest[app]["accepted"] == ingest[app]["count"], (backend, app, ingest[app])


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_twenty_second_soak_drains_and_loses_nothing(backend, tmp_path):
    if not (redis_binary() and postgres_bindir()) and not IN_CI:
        pytest.skip("the soak needs redis-server and PostgreSQL")
    out = tmp_path / "soak.json"
    # Settling 45 s lets the first events' start reminders (30 s on and later) fall due before the drain.
    arguments = ["--seconds", "20", "--rate", "20", "--dashboards", "1", "--settle", "45", "--backend", backend]
    run = subprocess.run(
        [sys.executable, "-m", "bench.soak", *arguments, "--json", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["accepted"] == result["posted"] == result["events"] >= 300
    assert result["drained_in_seconds"] is not None  # everything due was sent and arrived within the bound
    assert result["due"] == result["expected_due"] > result["events"]  # some start reminders fell due
    assert (result["lost"], result["by_status"]) == (0, {"sent": result["due"]})
    assert result["received"] == result["received_distinct"] >= result["due"]  # none twice
