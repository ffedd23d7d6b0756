"""Refuse a state-changing request a browser sent from another site, even with a valid CSRF token.

Defence in depth beside SameSite=Lax cookies and the token: a browser names the page a request came from
in Origin (or, failing that, Referer). A request naming neither is let through to the token check.
"""

from urllib.parse import urlsplit

from flask import Flask, abort, current_app, request

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Signed by their own scheme, and posted by other sites on purpose (mail clients' one-click unsubscribe).
CROSS_SITE_BLUEPRINTS = {"webhooks", "provider_hooks", "unsubscribe"}


def init_app(app: Flask) -> None:
    """Check every state-changing request's origin before its view runs."""

    @app.before_request
    def refuse_other_sites():
        if request.method in SAFE_METHODS or request.blueprint in CROSS_SITE_BLUEPRINTS:
            return
        claimed = request.headers.get("Origin") or request.headers.get("Referer")
        if claimed is not None and not same_site(claimed):
            abort(403, "this request came from another site")


def same_site(url: str) -> bool:
    """Whether a browser-given origin or page is this site: the host asked for, or the public URL's."""
    host = urlsplit(url).netloc.lower()
    return bool(host) and host in {request.host.lower(), urlsplit(current_app.config["PUBLIC_URL"]).netloc.lower()}
