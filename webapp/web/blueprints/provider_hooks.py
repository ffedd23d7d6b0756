"""Callbacks from providers: Twilio's status reports and inbound SMS, and mail servers' bounces.

Each is authenticated in the provider's own way before it changes anything: Twilio's requests
with X-Twilio-Signature (checked by the twilio package's RequestValidator), bounces with a
bearer token from the configuration.
"""

import hmac
import logging

from flask import Blueprint, Response, abort, current_app, jsonify, request
from twilio.request_validator import RequestValidator

from webapp.domain.after_sending import bounces, sms_replies, twilio_status
from webapp.domain.people.addresses import AddressError, normalise_phone
from webapp.models.types import utcnow

bp = Blueprint("provider_hooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def twilio_form():
    """The callback's form fields, once its signature proves Twilio sent it; 403 otherwise."""
    token = current_app.config["TWILIO_AUTH_TOKEN"]
    if not token:
        abort(403, "Twilio is not configured here: set TWILIO_AUTH_TOKEN to accept its callbacks")
    signature = request.headers.get("X-Twilio-Signature", "")
    validator = RequestValidator(token)
    if not any(validator.validate(url, request.form, signature) for url in urls_twilio_may_have_called()):
        log.warning("Twilio callback to %s refused: bad or missing X-Twilio-Signature", request.path)
        abort(403, "X-Twilio-Signature does not match this request")
    return request.form


def urls_twilio_may_have_called() -> list[str]:
    """This request's URL under BELLHOP_PUBLIC_URL; behind trusted proxies, also as the proxy says it was called.

    Without a trusted proxy the URL rebuilt from the request is the client's to choose (its Host header), so a
    callback Twilio signed for another deployment on the same account would pass as ours.
    """
    query = request.query_string.decode("latin-1")
    urls = [current_app.config["PUBLIC_URL"] + request.path + (f"?{query}" if query else "")]
    if current_app.config["PROXY_HOPS"]:
        urls.append(request.url)
    return urls


@bp.post("/twilio/status")
def twilio_status_callback():
    """A message's status changed at Twilio: record it and move its delivery state forward."""
    form = twilio_form()
    sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "").lower()
    if not sid or status not in twilio_status.STATUSES:
        abort(400, f"MessageSid and a known MessageStatus are required (got status {status[:40]!r})")
    error_code = form.get("ErrorCode", "")
    if error_code and not twilio_status.ERROR_CODE.fullmatch(error_code):
        abort(400, f"ErrorCode must be Twilio's numeric code (got {error_code[:40]!r})")
    notification = twilio_status.find(request.args.get("notification"), sid)
    if notification is None:
        log.warning("Twilio status %s for unknown message %s: acknowledged, nothing changed", status, sid)
        return jsonify(status="unknown", detail=f"no message {sid} here; nothing changed"), 200
    twilio_status.record(notification, status, error_code, utcnow())
    return jsonify(status="recorded", notification_id=notification.id, delivery_state=notification.delivery_state), 200


@bp.post("/twilio/inbound")
def twilio_inbound():
    """Someone replied to an SMS: STOP and its kin opt them out, START opts them back in, HELP is noted."""
    form = twilio_form()
    try:
        number = normalise_phone(form.get("From", ""), "From")
    except AddressError as error:
        abort(400, str(error))
    word, people = sms_replies.handle(number, form.get("Body", ""), form.get("OptOutType"), utcnow())
    log.info("SMS reply from %s: %s, %d people", number, word or "no keyword", people)
    return Response(EMPTY_TWIML, mimetype="text/xml")


@bp.post("/email/bounce")
def email_bounce():
    """A mail server posts a bounce or complaint as the raw message it received."""
    token = current_app.config["BOUNCE_TOKEN"]
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token:
        abort(403, "bounce intake is not configured here: set BELLHOP_BOUNCE_TOKEN")
    if not hmac.compare_digest(given.encode(), token.encode()):
        abort(401, "a valid Authorization: Bearer token is required")
    raw = request.get_data(cache=False)
    if not raw.strip():
        abort(400, "the body must be the bounce message, as received (RFC 5322)")
    try:
        handled = bounces.handle(raw, utcnow())
    except bounces.UnreadableBounce as error:
        abort(400, str(error))
    if not handled.notification_ids:
        log.warning("bounce (%s) names no message of ours with a valid signature: nothing changed", handled.kind)
    return jsonify(kind=handled.kind, notification_ids=handled.notification_ids), 200
