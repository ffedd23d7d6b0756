"""POST /webhooks/events: signed platform events in."""

import logging
import time

from flask import Blueprint, abort, current_app, g, jsonify, request

from webapp.domain.accepting.inbox import accept
from webapp.models import EventSource
from webapp.plumbing import metrics
from webapp.plumbing.signatures import verify

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)


@bp.before_request
def start_clock():
    g.webhook_started = time.perf_counter()


@bp.after_request
def observe_latency(response):
    metrics.WEBHOOK_SECONDS.labels(str(response.status_code)).observe(time.perf_counter() - g.webhook_started)
    return response


@bp.post("/events")
def receive_event():
    """Verify, then accept one event into the inbox; 202 when stored, 200 when its id was seen before."""
    body = request.get_data(cache=False)  # raises 413 when Content-Length is past MAX_CONTENT_LENGTH
    if request.content_length is None and len(body) >= current_app.config["MAX_CONTENT_LENGTH"]:
        # A chunked body has no length to check first, and werkzeug stops reading at the limit without a word:
        # the truncated body would fail its signature with a misleading 401.
        abort(413, f"the body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes")
    verify(body, request.headers, current_app.config["WEBHOOK_SECRETS"])
    result = accept(body, request.headers["webhook-id"], EventSource.WEBHOOK)
    log.debug("event %s: %s", request.headers["webhook-id"], "duplicate" if result.duplicate else "accepted")
    if result.duplicate:
        return jsonify(status="duplicate", detail="event already received; nothing changed"), 200
    return jsonify(status="accepted", detail="stored; it is planned within moments"), 202
