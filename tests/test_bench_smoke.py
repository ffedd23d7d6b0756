"""Every benchmark runs at tiny sizes, so the benchmarks cannot rot (speed is not asserted here)."""

import json
import subprocess
import sys

import pytest

from tests.support.services import IN_CI, postgres_bindir, redis_binary
from webapp.flask_config import PROJECT_ROOT

# make test-fast leaves it out; one worker runs the whole module, so the benchmarks run once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench_smoke")]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    if not (redis_binary() and postgres_bindir()) and not IN_CI:
        pytest.skip("benchmarks need redis-server and PostgreSQL")
    out = tmp_path_factory.mktemp("bench") / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--json", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout, json.loads(out.read_text())


def test_every_benchmark_prints_its_row_with_a_baseline(smoke):
    table, _ = smoke
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
        assert table.count(name) >= 2, name  # once per backend
    assert "## sqlite" in table and "## postgresql" in table


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
