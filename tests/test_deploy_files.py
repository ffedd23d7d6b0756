"""The files a Heroku-style platform reads: app.json, .python-version and the Procfile agree with Bellhop."""

import json
import os
import subprocess
import sys

from tests.support.docs import variables_documented
from tests.support.processes import procfile_entries
from webapp.flask_config import PROJECT_ROOT

MANIFEST = json.loads((PROJECT_ROOT / "app.json").read_text())


def test_the_manifest_asks_for_postgres_and_redis_and_runs_every_process():
    assert {addon["plan"] for addon in MANIFEST["addons"]} == {"heroku-postgresql", "heroku-redis"}
    assert set(MANIFEST["formation"]) == set(procfile_entries()) - {"release"}
    assert all(MANIFEST["formation"][kind]["quantity"] >= 1 for kind in ("web", "worker", "scheduler"))


def test_the_manifest_generates_the_secret_key_and_asks_for_the_platforms_secret():
    settings = MANIFEST["env"]
    assert settings["SECRET_KEY"]["generator"] == "secret"
    assert settings["BELLHOP_WEBHOOK_SECRETS"]["required"] is True
    assert settings["BELLHOP_ENV"]["value"] == "production"


def test_every_setting_the_manifest_names_is_a_documented_one():
    assert set(MANIFEST["env"]) - variables_documented() == set()


def test_python_version_is_the_one_the_suite_runs_on():
    pinned = (PROJECT_ROOT / ".python-version").read_text().strip()
    assert pinned == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_the_background_processes_are_flask_commands():
    entries = procfile_entries()
    for kind in ("worker", "scheduler", "consumer"):
        assert entries[kind] == f"flask --app wsgi {kind}"


def test_make_run_lets_the_environment_win_over_its_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# written by make run\nPORT=8000\nREDIS_URL=redis://127.0.0.1:6379/0\nX=a=b")
    script = f'. scripts/env-defaults && load_env_defaults {env_file} && echo "$PORT $REDIS_URL $X"'
    done = subprocess.run(
        ["bash", "-c", script], cwd=PROJECT_ROOT, env={**os.environ, "PORT": "9000"}, capture_output=True, text=True
    )
    assert done.stdout.split() == ["9000", "redis://127.0.0.1:6379/0", "a=b"], done.stderr
    run_local = (PROJECT_ROOT / "scripts" / "run-local").read_text()
    assert "load_env_defaults .env" in run_local and "honcho start -e /dev/null" in run_local  # no re-read


def test_make_run_starts_its_metrics_from_zero(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_1234.db").write_bytes(b"last run's counts")
    (metrics / "notes.txt").write_text("not ours")
    run_local = (PROJECT_ROOT / "scripts" / "run-local").read_text()
    start = run_local.index("metrics_dir=")
    emptying = run_local[start : run_local.index("\n", run_local.index("rm -f", start))]
    subprocess.run(["bash", "-c", emptying], env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}, check=True)
    assert [path.name for path in metrics.iterdir()] == ["notes.txt"]
