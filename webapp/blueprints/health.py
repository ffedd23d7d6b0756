"""GET /health: is the web process up and can it reach its database."""

from flask import Blueprint, jsonify
from sqlalchemy import text

from webapp.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    """Answer 200 when the database answers; errors map to 503."""
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")


@bp.get("/")
def index():
    """Say what this server is until the dashboard arrives."""
    return jsonify(service="bellhop", webhook="/webhooks/events", health="/health")
