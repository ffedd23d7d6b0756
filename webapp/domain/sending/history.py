"""A notification's story: planned, each attempt, and each status change made off the delivery path."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from webapp.extensions import db
from webapp.models import DeliveryReport, Notification, NotificationStatus, StatusChange


def record(ids: list[int], status: NotificationStatus, reason: str | None, at: datetime) -> None:
    """Add a history row for each notification that just moved to status."""
    if ids:
        db.session.execute(
            insert(StatusChange),
            [
                {"notification_id": notification_id, "at": at, "status": status, "reason": reason}
                for notification_id in ids
            ],
        )


@dataclass(frozen=True)
class Step:
    """One line of a notification's timeline; status is set when the line is a change of status."""

    at: datetime
    what: str
    detail: str = ""
    status: str | None = None


def report_detail(report) -> str:
    """A provider report's code and detail, as one line (a DeliveryReport row or a receipts.Report)."""
    return ": ".join(part for part in (report.code, report.detail) if part)


def timeline(row: Notification) -> list[Step]:
    """Everything that happened to a notification, oldest first."""
    steps = [Step(row.created_at, "planned", f"for {row.scheduled_at:%Y-%m-%d %H:%M:%S} UTC")]
    for attempt in row.attempt_log:
        outcome = attempt.outcome.value.replace("_", " ") if attempt.outcome else "unfinished"
        steps.append(Step(attempt.started_at, f"attempt {attempt.number}: {outcome}", attempt.error or ""))
    changes = db.session.scalars(select(StatusChange).where(StatusChange.notification_id == row.id))
    steps += [Step(change.at, "status changed", change.reason or "", change.status.value) for change in changes]
    reports = db.session.scalars(select(DeliveryReport).where(DeliveryReport.notification_id == row.id))
    steps += [Step(report.at, f"{report.source} reported {report.state}", report_detail(report)) for report in reports]
    return sorted(steps, key=lambda step: step.at)
