"""Health checks: /healthz (the process answers), /readyz (reminders can go out on time), /health (the database)."""

from flask import Blueprint, jsonify, redirect, request, url_for
from sqlalchemy import text

from webapp.domain.staff import readiness
from webapp.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    """Answer 200 when the database answers; errors map to 503."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers, whatever its dependencies do."""
    return jsonify(status="alive")


@bp.get("/readyz")
def readyz():
    """Readiness: 200 when every part reminders depend on is fine, else 503 naming each part that is not."""
    ready, parts = readiness.report()
    failing = sorted(name for name, part in parts.items() if not part["ok"])
    body = {"status": "ready" if ready else "not ready", "failing": failing, "checks": parts}
    return jsonify(body), 200 if ready else 503


@bp.get("/")
def index():
    """A browser goes to the dashboard (or its sign-in page); other clients learn where the endpoints are."""
    if request.accept_mimetypes.accept_html:
        return redirect(url_for("dashboard.home"))
    return jsonify(service="bellhop", webhook="/webhooks/events", health="/healthz", ready="/readyz")
