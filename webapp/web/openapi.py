"""The OpenAPI 3.1 description of Bellhop's machine-facing API, built from the event models themselves.

`python -m webapp.web.openapi` rewrites static/openapi.json; a test fails when the file is out of date.
"""

import json

from webapp.domain.accepting.events import PAYLOADS
from webapp.flask_config import PROJECT_ROOT

PATH = PROJECT_ROOT / "static" / "openapi.json"
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


def payload_schemas() -> tuple[dict, dict]:
    """Each event type's envelope schema, and the shared component schemas they refer to."""
    components, envelopes = {}, {}
    for event_type, model in sorted(PAYLOADS.items()):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
        envelopes[event_type] = {
            "type": "object",
            "required": ["event_type", "timestamp", "payload"],
            "properties": {
                "event_type": {"const": event_type},
                "timestamp": {"type": "string", "format": "date-time"},
                "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            },
        }
    return envelopes, components


def response(description: str, schema: dict = ERROR) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def header(name: str, description: str) -> dict:
    return {"name": name, "in": "header", "required": True, "description": description, "schema": {"type": "string"}}


def document() -> dict:
    """The whole OpenAPI document."""
    envelopes, components = payload_schemas()
    status = {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"const": "accepted"},
            "detail": {"type": "string"},
        },
    }
    duplicate = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "duplicate"}, "detail": {"type": "string"}},
    }
    webhook = {
        "summary": "Receive one signed platform event (Standard Webhooks)",
        "parameters": [
            header("webhook-id", "the event's idempotency key, 1 to 255 characters"),
            header("webhook-timestamp", "Unix seconds, within 300 s of the server's clock"),
            header("webhook-signature", "v1,<base64 HMAC-SHA256 of id.timestamp.body>"),
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": list(envelopes.values())}}},
        },
        "responses": {
            "202": response("stored durably in the inbox; planned within moments", status),
            "200": response("seen before; nothing changed", duplicate),
            "400": response("not a valid event; the reason names the field"),
            "401": response("bad or missing signature"),
            "413": response("body over BELLHOP_MAX_BODY_BYTES"),
            "503": response("database unavailable; retry after Retry-After"),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bellhop",
            "version": "1",
            "description": "The signed event webhook and the health checks. Beyond the schemas, an event "
            "must name IANA zones, match each party's id to its *_id field, and so on: "
            "a 400 names the rule broken.",
        },
        "paths": {"/webhooks/events": {"post": webhook}, **health_paths()},
        "components": {"schemas": components},
    }


def health_paths() -> dict:
    """/health (the database), /healthz (liveness) and /readyz (readiness), as monitors call them."""
    ok = {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
    alive = {"type": "object", "required": ["status"], "properties": {"status": {"const": "alive"}}}
    check = {
        "type": "object",
        "required": ["ok", "detail"],
        "properties": {
            "ok": {"type": "boolean"},
            "detail": {"type": "string"},
            "age_seconds": {"type": ["number", "null"]},
        },
    }
    readiness = {
        "type": "object",
        "required": ["status", "failing", "checks"],
        "properties": {
            "status": {"enum": ["ready", "not ready"]},
            "failing": {"type": "array", "items": {"type": "string"}},
            "checks": {"type": "object", "additionalProperties": check},
        },
    }
    health = {"200": response("ok", ok), "503": response("database unavailable")}
    ready = {"200": response("every part is fine", readiness), "503": response("a part is not", readiness)}
    return {
        "/health": {"get": {"summary": "The web process reaches its database", "responses": health}},
        "/healthz": {"get": {"summary": "The web process answers", "responses": {"200": response("alive", alive)}}},
        "/readyz": {"get": {"summary": "Reminders can go out on time", "responses": ready}},
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    PATH.write_text(render())
    print(f"wrote {PATH}")
