"""Security headers on every response: a strict Content-Security-Policy, no sniffing, no framing,
no personal data left in caches, and HSTS when the request came over HTTPS."""

import secrets

from flask import Flask, Response, request

from webapp.web.error_pages import PEOPLE_PATHS

# No inline script or style: Bellhop's own pages load theirs from /static; Flask-Admin's few inline
# scripts carry the request's nonce.
POLICY = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
NONCE_KEY = "bellhop.csp_nonce"
HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask) -> None:
    """Add the headers to every response this app sends."""
    app.after_request(add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce


def csp_nonce() -> str:
    """This request's script nonce, made on first use (kept in the request, not in g, which may outlive it)."""
    return request.environ.setdefault(NONCE_KEY, secrets.token_urlsafe(16))


def add_headers(response: Response) -> Response:
    """Set the security headers a view has not set itself."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", POLICY.format(nonce=csp_nonce()))
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")  # for browsers that predate frame-ancestors
    headers.setdefault("Referrer-Policy", "same-origin")
    # The pages people open show names, addresses and messages: keep them out of every cache.
    if request.path.startswith(PEOPLE_PATHS) and not request.path.startswith("/admin/static"):
        headers["Cache-Control"] = "no-store"
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response
