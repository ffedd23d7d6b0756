"""Print a local .env with fresh random secrets (used by `make run` on first start)."""

import base64
import secrets


def whsec() -> str:
    """Return a Standard Webhooks secret: whsec_ plus base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


print(f"""# Written by `make run`; local settings only. See docs/configuration.md for every variable.
BELLHOP_ENV=local
SECRET_KEY={secrets.token_hex(32)}
BELLHOP_WEBHOOK_SECRETS={whsec()}
BELLHOP_OUTBOUND_WEBHOOK_SECRET={whsec()}
REDIS_URL=redis://127.0.0.1:6379/0
BELLHOP_CHANNELS=log
PORT=8000
BELLHOP_DEMO_ADMIN_PASSWORD={secrets.token_urlsafe(12)}
FLASK_APP=wsgi""")
