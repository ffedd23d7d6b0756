"""Run every benchmark and print one table: `make bench` (full) or `python -m bench.run --smoke`."""

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import burst, capacity, dashboard, early, ingest, memory, overview, precision, reminder_script, sustained
from tests.support.stack import Stack

FULL = {
    "burst": 10_000,
    "naive": 1_000,
    "precision": (200, 120),
    "ingest": (4_000, 3),
    "memory": 1_000_000,
    "naive_memory": 10_000,
    "scale_counts": (1_000, 10_000, 100_000),
    "scale_workers": (1, 2, 4),
    "dashboard": (1_000_000, 40),
    "overview": (300_000, 7),
    "starve": (3_000, 20),
    "suppressed": (10_000, 100_000, 2),
    "sustained": (1_000, 60),
    "reminder_script": 10_000,
    "early": (3_000, 10, 600),
    "capacity": (4_000, 5_000, (1, 2, 4), 20),
}
SMOKE = {
    "burst": 60,
    "naive": 20,
    "precision": (10, 4),
    "ingest": (60, 1),
    "memory": 2_000,
    "naive_memory": 200,
    "scale_counts": (30, 60),
    "scale_workers": (1, 2),
    "dashboard": (2_000, 3),
    "overview": (2_000, 3),
    "starve": (60, 2),
    "suppressed": (60, 2_000, 1),
    "sustained": (50, 3),
    "reminder_script": 30,
    "early": (40, 10, 600),
    "capacity": (60, 60, (1, 2), 3),
}


def run_backend(backend: str, sizes: dict, only: set[str]) -> list[tuple]:
    """Run the chosen benchmarks on one backend; return table rows (name, figure, baseline, ratio, target)."""
    stack, rows = Stack(backend), []
    try:
        if "burst" in only:
            rows += burst_rows(stack, sizes)
        if "precision" in only:
            result = precision.precision(stack, *sizes["precision"])
            rows.append(
                (
                    "precision lateness p50 / p99 / max (s)",
                    f"{result['p50']:.2f} / {result['p99']:.2f} / {result['max']:.2f}",
                    "-",
                    "-",
                    "p50 <= 0.5, p99 <= 1",
                    result,
                )
            )
        if "ingest" in only:
            result = ingest.ingest(stack, *sizes["ingest"])
            rows.append(
                (
                    f"ingest (accepted req/s, median of {sizes['ingest'][1]})",
                    f"{result['bellhop']['throughput']:.0f}",
                    f"bare {result['bare']['throughput']:.0f}",
                    f"{result['ratio']:.2f}",
                    ">= 0.5",
                    result,
                )
            )
            rows.append(
                (
                    f"ingest on the sync workers used before (req/s, median of {sizes['ingest'][1]})",
                    f"{result['bellhop_sync']['throughput']:.0f}",
                    f"bare {result['bare_sync']['throughput']:.0f}",
                    f"{result['sync_ratio']:.2f}",
                    "gevent / sync " + f"{result['gevent_over_sync']:.2f}",
                    result["bellhop_sync"],
                )
            )
            rows.append(
                (
                    "ingest floor: the same rows, one tx, nothing else (req/s)",
                    f"{result['floor']['throughput']:.0f}",
                    f"bare {result['bare']['throughput']:.0f}",
                    f"{result['floor_ratio']:.2f}",
                    "-",
                    result["floor"],
                )
            )
        if "sustained" in only:
            rows += sustained_rows(stack, sizes)
        if "reminders" in only:
            rows += reminder_script_rows(stack, sizes)
        if "early" in only:
            rows += early_rows(stack, sizes)
        if "capacity" in only:
            rows += capacity_rows(stack, sizes)
        if "memory" in only:
            ours = memory.bellhop_memory(stack, sizes["memory"])
            naive = memory.naive_memory(stack, sizes["naive_memory"])
            ratio = ours["per_reminder"] / naive["per_reminder"]
            rows.append(
                (
                    f"Redis bytes per pending reminder ({ours['count']:,})",
                    f"{ours['per_reminder']:.2f}",
                    f"one job each {naive['per_reminder']:.0f}",
                    f"{ratio:.4f}",
                    "<= 16 bytes",
                    {"bellhop": ours, "naive": naive},
                )
            )
        if "scale" in only:
            rows += scale_rows(stack, sizes)
        if "suppressed" in only:
            rows += suppression_rows(stack, sizes)
        if "dashboard" in only:
            rows += dashboard_rows(stack, sizes)
        if "overview" in only:
            rows += overview_rows(stack, sizes)
    finally:
        stack.close()
    return rows


def burst_rows(stack: Stack, sizes: dict) -> list[tuple]:
    """Burst throughput and lateness beside the receiver's raw capacity and the naive design."""
    raw = burst.raw_capacity(stack, sizes["burst"])
    ours = burst.bellhop_burst(stack, sizes["burst"])
    naive = burst.naive_burst(stack, sizes["naive"])
    check_complete(ours, naive)
    return [
        (
            f"burst {sizes['burst']:,}: throughput (msg/s)",
            f"{ours['throughput']:.0f}",
            f"raw receiver {raw['throughput']:.0f}",
            f"{ours['throughput'] / raw['throughput']:.2f}",
            ">= 0.5",
            {"bellhop": ours, "raw": raw},
        ),
        (
            f"burst {sizes['burst']:,}: vs naive ({sizes['naive']:,} jobs)",
            f"{ours['throughput']:.0f}",
            f"naive {naive['throughput']:.1f}",
            f"{ours['throughput'] / naive['throughput']:.1f}",
            ">= 20",
            {"naive": naive},
        ),
        (
            f"burst {sizes['burst']:,}: lateness p50 / p99 / max (s)",
            f"{ours['p50']:.2f} / {ours['p99']:.2f} / {ours['max']:.2f}",
            f"naive {naive['p50']:.2f} / {naive['p99']:.2f} / {naive['max']:.2f}",
            "-",
            "p99 <= 5",
            {},
        ),
    ]


def sustained_rows(stack: Stack, sizes: dict) -> list[tuple]:
    """Events offered at a steady rate, accepted by the web tier and planned by the workers, beside a bare endpoint."""
    rate, seconds = sizes["sustained"]
    result = sustained.sustained(stack, rate, seconds)
    if not result["complete"] or result["planned"] != result["bellhop"]["accepted"]:
        raise SystemExit(f"sustained: events left unplanned: {result}")
    ours, bare = result["bellhop"], result["bare"]
    rows = [
        (
            f"sustained {rate:,}/s for {seconds} s: accepted (events/s)",
            f"{ours['throughput']:.0f} ({ours['failed']:,} not 202)",
            f"bare at that rate {bare['throughput']:.0f}",
            f"{ours['throughput'] / bare['throughput']:.2f}",
            f">= {rate:,}",
            result,
        ),
        (
            f"sustained {rate:,}/s for {seconds} s: planning lag p50 / p99 / max (s)",
            f"{result['lag_p50']:.2f} / {result['lag_p99']:.2f} / {result['lag_max']:.2f}",
            f"{result['planned']:,} planned",
            "-",
            "p99 <= 1",
            {},
        ),
    ]
    if stack.backend == "sqlite":
        rows.append(sqlite_pause_row(stack, rate, seconds, result))
    return rows


def sqlite_pause_row(stack: Stack, rate: int, seconds: int, paused: dict) -> tuple:
    """The same offer with the planner taking the write lock straight back after each batch."""
    greedy = sustained.sustained(stack, rate, seconds, BELLHOP_PLANNER_SQLITE_PAUSE="0")
    return (
        f"sustained {rate:,}/s for {seconds} s: accepted with the planner's pause / without (events/s, lag p99 s)",
        f"{paused['bellhop']['throughput']:.0f}, {paused['lag_p99']:.2f}",
        f"without {greedy['bellhop']['throughput']:.0f}, {greedy['lag_p99']:.2f}",
        f"{paused['bellhop']['throughput'] / greedy['bellhop']['throughput']:.2f}",
        "-",
        greedy,
    )


def reminder_script_rows(stack: Stack, sizes: dict) -> list[tuple]:
    """The platform's booking.reminder.24hr script, through the webhook and through RabbitMQ."""
    rows = []
    for via in ("webhook", "rabbitmq"):
        result = reminder_script.reminder_script(stack, sizes["reminder_script"], via)
        check_complete(result)
        rows.append(
            (
                f"reminder script {result['events']:,} x reminder.24hr via {via}: first publish to last send (s)",
                f"{result['first_publish_to_last_send']:.1f}",
                f"accepted {result['accept_rate']:.0f}/s",
                "-",
                "each sent once",
                result,
            )
        )
    return rows


def early_rows(stack: Stack, sizes: dict) -> list[tuple]:
    """A rate-limited cluster of 1 h reminders, sent early within their tolerance and without."""
    result = early.early(stack, *sizes["early"])
    ours, baseline = result["bellhop"], result["baseline"]
    check_complete(ours, baseline)
    name = f"early sending: {result['count']:,} 1 h reminders in one second at {result['rate']}/s"
    return [
        (
            f"{name}: late (> 1 s) / lateness p99 (s)",
            f"{ours['late']} / {ours['lateness_p99']:.1f}",
            f"not early {baseline['late']} / {baseline['lateness_p99']:.1f}",
            "-",
            "none late",
            result,
        ),
        (
            f"{name}: earliest (s before), outside the {result['tolerance']} s tolerance",
            f"{-ours['earliest']:.0f}, {ours['too_early']}",
            f"not early {-baseline['earliest']:.0f}, {baseline['too_early']}",
            "-",
            "none outside",
            result,
        ),
    ]


def split_ms(figures: dict, *roles: str) -> str:
    """CPU ms per unit for each role, as 'a / b / c'."""
    return " / ".join(f"{figures[role]:.2f}" for role in roles)


def capacity_rows(stack: Stack, sizes: dict) -> list[tuple]:
    """CPU per unit of work per role, the commit rate, and the model's burst throughput against 1, 2, 4 workers."""
    result = capacity.capacity(stack, *sizes["capacity"])
    plan, dashboards = result["plan"], result["dashboard"]
    if not result["complete"]:
        raise SystemExit(f"capacity benchmark did not finish: {result}")
    rows = [
        (
            "capacity: CPU ms per accepted event (web / database / redis)",
            split_ms(plan["accept_ms"], "web", "database", "redis"),
            f"accepted {plan['accept_rate']:.0f}/s",
            "-",
            "-",
            result,
        ),
        (
            "capacity: CPU ms per planned event (worker / database / redis)",
            split_ms(plan["plan_ms"], "workers", "database", "redis"),
            f"planned {plan['plan_rate']:.0f}/s",
            "-",
            "-",
            result,
        ),
        (
            "capacity: CPU ms per dashboard poll (web / database / redis)",
            split_ms(dashboards["poll_ms"], "web", "database", "redis"),
            f"{dashboards['polls']} polls",
            "-",
            "-",
            result,
        ),
        (
            "capacity: commits/s, single-row, 4 connections",
            f"{result['commits']['commits_per_second']:.0f}",
            "-",
            "-",
            "-",
            result,
        ),
    ]
    for sent in result["sends"]:
        check_complete(sent)
        rows.append(
            (
                f"capacity: burst of {sent['count']:,} by {sent['workers']} worker(s), msg/s "
                "(CPU ms/msg worker / database / redis)",
                f"{sent['throughput']:.0f} ({split_ms(sent['send_ms'], 'workers', 'database', 'redis')})",
                f"model {sent['predicted']:.0f}",
                f"{sent['throughput'] / sent['predicted']:.2f}",
                "model within 20 %",
                sent,
            )
        )
    return rows


def suppression_rows(stack: Stack, sizes: dict) -> list[tuple]:
    """The burst with a long suppression list beside the same burst without one, in alternating rounds."""
    count, listed, rounds = sizes["suppressed"]
    without, with_list = [], []
    for _ in range(rounds):
        without.append(burst.bellhop_burst(stack, count))
        with_list.append(burst.bellhop_burst(stack, count, suppressed=listed))
    check_complete(*without, *with_list)
    plain, listed_rate = (median([result["throughput"] for result in runs]) for runs in (without, with_list))
    return [
        (
            f"burst {count:,} with {listed:,} suppressed addresses (msg/s, median of {rounds})",
            f"{listed_rate:.0f}",
            f"no list {plain:.0f}",
            f"{listed_rate / plain:.2f}",
            "within noise",
            {"without": without, "with": with_list},
        )
    ]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def scale_rows(stack: Stack, sizes: dict) -> list[tuple]:
    """Burst throughput as the burst grows (2 workers) and as workers are added (middle size)."""
    rows, base = [], None
    for count in sizes["scale_counts"]:
        result = burst.bellhop_burst(stack, count)
        check_complete(result)
        base = base or result["throughput"]
        rows.append(
            (
                f"scale: burst {count:,}, 2 workers (msg/s)",
                f"{result['throughput']:.0f}",
                f"{sizes['scale_counts'][0]:,} burst {base:.0f}",
                f"{result['throughput'] / base:.2f}",
                "flat (linear cost)",
                result,
            )
        )
    middle, base = sizes["scale_counts"][1], None
    for workers in sizes["scale_workers"]:
        result = burst.bellhop_burst(stack, middle, workers=workers)
        check_complete(result)
        base = base or result["throughput"]
        rows.append(
            (
                f"scale: burst {middle:,}, {workers} worker(s) (msg/s)",
                f"{result['throughput']:.0f}",
                f"1 worker {base:.0f}",
                f"{result['throughput'] / base:.2f}",
                "-",
                result,
            )
        )
    return rows


def dashboard_rows(stack: Stack, sizes: dict) -> list[tuple]:
    """Page times of every dashboard case beside Flask-Admin's stock list; ingest with dashboards polling."""
    result = dashboard.dashboard(stack, *sizes["dashboard"])
    stock = result["cases"]["Flask-Admin stock list, first page"]["p95_ms"]
    rows = [
        (
            f"dashboard {result['rows']:,} rows: {name} p50 / p95 (ms)",
            f"{case['p50_ms']:.1f} / {case['p95_ms']:.1f}",
            f"Flask-Admin first page p95 {stock:.1f}",
            f"{case['p95_ms'] / stock:.2f}",
            "p95 <= 50",
            case,
        )
        for name, case in result["cases"].items()
    ]
    starve = dashboard.ingest_beside_dashboards(stack, *sizes["starve"])
    rows.append(
        (
            f"ingest with {starve['dashboards']} dashboards polling (req/s)",
            f"{starve['with_dashboards']['throughput']:.0f}",
            f"none open {starve['alone']['throughput']:.0f}",
            f"{starve['ratio']:.2f}",
            "not starved",
            starve,
        )
    )
    return rows


def overview_rows(stack: Stack, sizes: dict) -> list[tuple]:
    """The overview's hourly chart counted by the database beside counting each row in Python."""
    result = overview.hourly_chart(stack, *sizes["overview"])
    ours, theirs = result["database"], result["python"]
    return [
        (
            f"overview chart, {result['count']:,} sent in 48 h: ms, peak KiB",
            f"{ours['median_ms']:.1f}, {ours['peak_kib']:.0f}",
            f"in Python {theirs['median_ms']:.1f}, {theirs['peak_kib']:.0f}",
            f"{ours['median_ms'] / theirs['median_ms']:.2f}",
            "-",
            result,
        )
    ]


def check_complete(*results: dict) -> None:
    """A benchmark that lost or duplicated a message is a failure, whatever its speed."""
    for result in results:
        if not result["complete"] or result.get("distinct", result["received"]) != result["count"]:
            raise SystemExit(f"benchmark lost or duplicated messages: {result}")


def print_table(backend: str, rows: list[tuple]) -> None:
    header = ("benchmark", "figure", "baseline (same run)", "ratio", "target")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
    print(f"\n## {backend}\n")
    for row in [header, tuple("-" * width for width in widths), *rows]:
        print("| " + " | ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:5])) + " |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves every benchmark still runs")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument(
        "--only",
        default="burst,precision,ingest,sustained,reminders,early,capacity,memory,scale,dashboard,overview,suppressed",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    sizes, only = (SMOKE if args.smoke else FULL), set(args.only.split(","))
    backends = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    print(
        f"Bellhop benchmarks, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"Python {platform.python_version()}, {'smoke' if args.smoke else 'full'} sizes"
    )
    started, results = time.monotonic(), {}
    for backend in backends:
        rows = run_backend(backend, sizes, only)
        print_table(backend, rows)
        results[backend] = [
            {"name": row[0], "figure": row[1], "baseline": row[2], "ratio": row[3], "detail": row[5]} for row in rows
        ]
    print(f"\n({time.monotonic() - started:.0f} s in all)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
