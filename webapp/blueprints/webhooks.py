"""POST /webhooks/events: signed platform events in."""

import logging

from flask import Blueprint, current_app, jsonify, request

from webapp.domain.ingest import ingest
from webapp.models import EventSource
from webapp.signatures import verify

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)


@bp.post("/events")
def receive_event():
    """Verify, then ingest one event; 202 when applied, 200 when seen before."""
    body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    verify(body, request.headers, current_app.config["WEBHOOK_SECRETS"])
    result = ingest(body, request.headers["webhook-id"], EventSource.WEBHOOK)
    log.debug("event %s: %s", request.headers["webhook-id"], "duplicate" if result.duplicate else result.outcome.value)
    if result.duplicate:
        return jsonify(status="duplicate", detail="event already received; nothing changed"), 200
    return jsonify(status=result.outcome.value, detail=result.detail), 202
