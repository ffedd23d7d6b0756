"""CPU seconds used by a process and all its descendants, read from /proc (Linux)."""

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def processes() -> dict[int, tuple[int, float]]:
    """Every live process: pid -> (parent pid, CPU seconds of it and its reaped children)."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # it ended while we looked
            continue
        fields = text[text.rindex(")") + 2 :].split()
        # After the name: state, ppid, ..., utime (14th field), stime, cutime, cstime.
        parent, times = int(fields[1]), [int(value) for value in fields[11:15]]
        table[int(stat.parent.name)] = (parent, sum(times) / TICKS)
    return table


def tree_seconds(roots: list[int]) -> float:
    """CPU seconds of the processes in roots and everything under them, including children already reaped."""
    table = processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    seen, waiting = set(), [pid for pid in roots if pid in table]
    while waiting:
        pid = waiting.pop()
        if pid not in seen:
            seen.add(pid)
            waiting += children.get(pid, [])
    return sum(table[pid][1] for pid in seen)


def postmaster_pid(pg_dir: Path | None) -> list[int]:
    """The PostgreSQL server's pid, read from its data directory; none for SQLite."""
    if pg_dir is None:
        return []
    return [int((pg_dir / "pgdata" / "postmaster.pid").read_text().split()[0])]
