"""GET /metrics: every process's counters, and the present state read from SQL and Redis, for Prometheus.

Refused unless the caller's address is in BELLHOP_METRICS_NETWORKS or it brings BELLHOP_METRICS_TOKEN.
"""

import hmac
import ipaddress

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from webapp.domain.planning import planner
from webapp.extensions import db
from webapp.models import Notification, NotificationStatus
from webapp.models.types import utcnow
from webapp.plumbing import heartbeats, queueing

bp = Blueprint("prometheus", __name__)
OPEN = (NotificationStatus.PENDING, NotificationStatus.QUEUED)
KINDS = ("scheduler", "worker", "consumer")


@bp.get("/metrics")
def scrape():
    """The Prometheus text format; 403 for a caller neither on an allowed network nor holding the token."""
    if not allowed():
        abort(403, "metrics are served to the configured networks, or with the bearer token")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(PresentState())
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def allowed() -> bool:
    """The caller is on a configured network, or sent the configured bearer token."""
    token = current_app.config["METRICS_TOKEN"]
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in current_app.config["METRICS_NETWORKS"])


class PresentState:
    """Gauges read at scrape time, true for the whole deployment: queue, due and unsent, heartbeats."""

    def collect(self):
        yield from self.from_database()
        yield from self.from_redis()

    def from_database(self):
        """What is due and not yet sent, what waits to be planned, and how long the oldest of each has waited."""
        now = utcnow()
        try:
            count, oldest = db.session.execute(
                select(func.count(), func.min(Notification.due_at)).where(
                    Notification.status.in_(OPEN), Notification.due_at <= now
                )
            ).one()
        except SQLAlchemyError:
            db.session.rollback()
            yield gauge("bellhop_database_up", "1 when the database answered this scrape.", 0)
            return
        yield gauge("bellhop_database_up", "1 when the database answered this scrape.", 1)
        yield gauge("bellhop_due_unsent", "Notifications due now or earlier and not yet sent.", count)
        age = (now - oldest).total_seconds() if oldest else 0.0
        yield gauge("bellhop_oldest_due_age_seconds", "How long the oldest due, unsent notification has waited.", age)
        waiting, lag = planner.lag(now)
        yield gauge("bellhop_events_waiting", "Events in the inbox waiting to be planned.", waiting)
        yield gauge(
            "bellhop_oldest_waiting_event_age_seconds",
            "How long the oldest event waiting to be planned has waited.",
            lag,
        )

    def from_redis(self):
        """The RQ queue's depth, and each kind of process's freshest heartbeat."""
        redis = queueing.redis_connection()
        try:
            depth = queueing.queue().count
            ages = {kind: heartbeats.ages(redis, kind) for kind in KINDS}
        except RedisError:
            yield gauge("bellhop_redis_up", "1 when Redis answered this scrape.", 0)
            return
        yield gauge("bellhop_redis_up", "1 when Redis answered this scrape.", 1)
        yield gauge("bellhop_queue_depth", "Jobs waiting in the RQ queue.", depth)
        stale = current_app.config["HEARTBEAT_STALE_SECONDS"]
        freshest = GaugeMetricFamily(
            "bellhop_heartbeat_age_seconds", "Seconds since the freshest process of a kind beat.", labels=["kind"]
        )
        reporting = GaugeMetricFamily(
            "bellhop_processes_reporting", "Processes of a kind whose heartbeat is fresh.", labels=["kind"]
        )
        for kind, found in ages.items():
            if found:
                freshest.add_metric([kind], min(found.values()))
            reporting.add_metric([kind], sum(1 for age in found.values() if age <= stale))
        yield freshest
        yield reporting


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    """One unlabelled gauge."""
    return GaugeMetricFamily(name, documentation, value=value)
