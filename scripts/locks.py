"""The dependency locks: `python scripts/locks.py compile` regenerates them, `check` says whether they are current.

Each lock is compiled by pip-tools from its short input file, with hashes, and ends with the digest of the
inputs it was compiled from (the .in file and every file it includes with -r or -c). `check` fails when an
input changed after its lock was made, so a dependency added to an .in file cannot be forgotten in the lock.
"""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# In order: each later input is constrained by the lock before it, so a package pins alike in all three.
LOCKS = {"requirements.in": "requirements.txt", "requirements-local.in": "requirements-local.txt"}
LOCKS["requirements-dev.in"] = "requirements-dev.txt"
COMPILE = [
    "pip-compile",
    "--quiet",
    "--generate-hashes",
    "--allow-unsafe",
    "--strip-extras",
    "--no-emit-index-url",
    "--no-emit-find-links",
]
DIGEST_LINE = re.compile(r"^# inputs sha256: ([0-9a-f]{64})$", re.M)
INCLUDE = re.compile(r"^-[rc]\s+(\S+)", re.M)


def inputs(name: str) -> list[Path]:
    """An input file and, recursively, every file it includes."""
    path = ROOT / name
    found = [path]
    for included in INCLUDE.findall(path.read_text()):
        found += inputs(included) if included.endswith(".in") else [ROOT / included]
    return found


def digest(name: str) -> str:
    """The sha256 of an input and everything it includes, in order."""
    hashed = hashlib.sha256()
    for path in inputs(name):
        hashed.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return hashed.hexdigest()


def compile_locks(extra: list[str]) -> None:
    """Regenerate every lock (pass --upgrade to take new releases), then stamp each with its inputs' digest."""
    bin_dir = Path(sys.executable).parent
    for source, lock in LOCKS.items():
        command = [str(bin_dir / COMPILE[0]), *COMPILE[1:], *extra, "--output-file", lock, source]
        subprocess.run(command, cwd=ROOT, check=True)
        text = DIGEST_LINE.sub("", (ROOT / lock).read_text()).rstrip("\n")
        (ROOT / lock).write_text(f"{text}\n# inputs sha256: {digest(source)}\n")


def stale_locks() -> list[str]:
    """The locks whose inputs changed since they were compiled."""
    stale = []
    for source, lock in LOCKS.items():
        recorded = DIGEST_LINE.search((ROOT / lock).read_text())
        if recorded is None or recorded[1] != digest(source):
            stale.append(f"{lock} is out of step with {source} (or what it includes): run `make lock`")
    return stale


def main(argv: list[str]) -> int:
    """compile [pip-compile options] | check"""
    if argv[:1] == ["compile"]:
        compile_locks(argv[1:])
        return 0
    if argv == ["check"]:
        problems = stale_locks()
        print("\n".join(problems) or "locks are current", file=sys.stderr if problems else sys.stdout)
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
