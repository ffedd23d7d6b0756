"""Errors for people: the dashboard, admin and sign-in pages answer with HTML that says how to go on.

The webhook, the health and metrics endpoints and the dashboard's live JSON keep JSON errors.
"""

from flask import g, render_template, request, url_for
from flask_wtf.csrf import CSRFError

# Paths a person's browser opens; everything else is a machine's unless its Accept header asks for HTML.
PEOPLE_PATHS = ("/dashboard", "/admin", "/login", "/logout", "/unsubscribe")
MACHINE_PATHS = ("/webhooks", "/health", "/healthz", "/readyz", "/metrics", "/dashboard/live")

TITLES = {
    400: "That request could not be used",
    401: "Please sign in",
    403: "Not allowed for your role",
    404: "Nothing here",
    405: "That cannot be done here",
    408: "The request did not arrive in full",
    413: "Too much at once",
    429: "Too many tries",
    503: "Bellhop cannot reach its database",
}
ADVICE = {
    403: "Your role does not include this. An admin can change roles in Admin › Staff.",
    404: "The address may be mistyped, or the record may have been removed.",
    429: "Wait a little, then try again.",
    503: "Nothing was changed. Try again in a few seconds; if it lasts, tell whoever runs Bellhop.",
}


def wants_html() -> bool:
    """Whether the request came from a person's browser rather than a program."""
    path = request.path
    if path.startswith(MACHINE_PATHS):
        return False
    if path.startswith(PEOPLE_PATHS):
        return True
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def page(status: int, message: str, exc: Exception | None = None):
    """The HTML error page for this status."""
    expired_form = isinstance(exc, CSRFError)
    if expired_form:
        title, advice = (
            "This form has expired",
            (
                "The page was open too long, or you signed in again since. Go back, reload the page and try "
                "again; nothing was changed."
            ),
        )
    else:
        title = TITLES.get(status, "Something went wrong" if status >= 500 else "That did not work")
        advice = ADVICE.get(status, "Go back and try again." if status < 500 else ADVICE[503])
    html = render_template(
        "errors/page.html",
        status=status,
        title=title,
        message=message,
        advice=advice,
        ways_on=ways_on(status, expired_form),
        request_id=g.get("request_id"),
    )
    return html, status


def ways_on(status: int, expired_form: bool) -> list[tuple[str, str]]:
    """The links that lead on from this error."""
    if expired_form or status == 401:
        return [("Sign in again", url_for("auth.login", next=request.path)), ("Overview", url_for("dashboard.home"))]
    if request.path.startswith("/unsubscribe"):
        return []
    return [("Back to the overview", url_for("dashboard.home"))]
