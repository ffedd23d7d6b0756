"""Prometheus metrics. Every process counts into files in one directory (prometheus-client's multiprocess
mode), so the web process's /metrics adds up its gunicorn workers, the RQ work horses and the consumer.

Counts that describe the present (queue depth, what is due and unsent, heartbeat ages) are read from SQL
and Redis when scraped instead, so they hold for every machine, not just this one.
"""

import os
from pathlib import Path

from webapp.flask_config import PROJECT_ROOT

# A horse is forked for every job, one at a time per worker: all of a worker's horses share one file,
# instead of leaving a file per job behind.
identity: dict[str, str | None] = {"shared": None}


def process_identity() -> str:
    """The name of this process's metrics files: its pid, or its worker's for a work horse."""
    return identity["shared"] or str(os.getpid())


def share_with_parent_after_fork() -> None:
    """Call in a forked work horse: count into its worker's file (horses never run side by side)."""
    identity["shared"] = f"{os.getppid()}-horses"


def prepare_directory() -> Path:
    """The shared directory, created; var/metrics in the checkout unless PROMETHEUS_MULTIPROC_DIR names one."""
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or PROJECT_ROOT / "var" / "metrics")
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)  # where prometheus-client looks
    return path


prepare_directory()

from prometheus_client import Counter, Histogram, values  # noqa: E402  reads the directory variable

values.ValueClass = values.MultiProcessValue(process_identity)

EVENTS = Counter(
    "bellhop_events_received_total",
    "Platform events received, by source, type and outcome (accepted, duplicate, invalid, bad_signature).",
    ["source", "event_type", "outcome"],
)
PLANNED = Counter(
    "bellhop_events_planned_total",
    "Inbox events the planner applied, by type and outcome (applied, stale, ignored, failed).",
    ["event_type", "outcome"],
)
PLANNING_LAG = Histogram(
    "bellhop_planning_lag_seconds",
    "Seconds from an event's arrival to its planning.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
WEBHOOK_SECONDS = Histogram(
    "bellhop_webhook_request_duration_seconds",
    "Time to answer a POST to the webhook, by status.",
    ["status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
NOTIFICATIONS = Counter(
    "bellhop_notifications_finished_total",
    "Notifications that reached a final status on the delivery path (sent, failed, expired), by type and channel.",
    ["type", "channel", "status"],
)
LATENESS = Histogram(
    "bellhop_delivery_lateness_seconds",
    "Seconds from a notification's due time to the provider's acceptance, by channel.",
    ["channel"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)
SENT_EARLY = Histogram(
    "bellhop_sent_early_seconds",
    "Seconds before its scheduled time a message left, by channel: a rate-limited cluster sent early.",
    ["channel"],
    buckets=(1, 5, 30, 60, 300, 600, 1800, 3600),
)
PROVIDER_ERRORS = Counter(
    "bellhop_provider_errors_total",
    "Failed delivery attempts, by channel and class (transient: retried; permanent: not).",
    ["channel", "error_class"],
)
RETRIES = Counter("bellhop_retries_total", "Failed attempts scheduled for another try, by channel.", ["channel"])
SUPPRESSIONS = Counter(
    "bellhop_suppressions_total",
    "Notifications not sent because the recipient opted out, by channel and where it was decided.",
    ["channel", "stage"],
)
EMAIL_SENDER_FAILURES = Counter(
    "bellhop_email_sender_failures_total",
    "Bounces that blame our own mail (SPF, DKIM, DMARC: authfailure; reverse DNS: requireptr), by reason.",
    ["reason"],
)
SIGN_INS_HELD = Counter(
    "bellhop_sign_ins_held_total",
    "Sign-ins answered 429 by the throttle, by the counter that held them (pair, address, account).",
    ["counter"],
)
DELIVERY_REPORTS = Counter(
    "bellhop_delivery_reports_total",
    "Provider reports that moved a message's delivery state (sent, delivered, undelivered), by channel.",
    ["channel", "state"],
)
