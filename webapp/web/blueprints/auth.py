"""Signing in and out of the dashboard."""

import hmac
import logging
import math
import re
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from webapp.domain.staff import accounts, login_throttle
from webapp.domain.staff import sessions as staff_sessions
from webapp.extensions import db, login_manager
from webapp.models import Role, Staff
from webapp.plumbing import metrics
from webapp.web import sessions

TABS_AND_NEWLINES = re.compile(r"[\t\n\r]")
C0_AND_SPACE = "".join(map(chr, range(0x21)))
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


@login_manager.user_loader
def load_staff(session_id: str) -> Staff | None:
    """The signed-in account, if it is active, has the password the session began with and the session lives."""
    staff_id, _, fingerprint = session_id.partition(":")
    account = db.session.get(Staff, int(staff_id)) if staff_id.isdigit() else None
    if account is None or not account.active or not hmac.compare_digest(account.get_id(), session_id):
        return None
    return account if sessions.current(account) else None


def require(role: Role):
    """Allow a view to signed-in staff whose role includes role; others get the login page or a 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def guarded(*args, **kwargs):
            if not current_user.can(role):
                abort(403)
            return view(*args, **kwargs)

        return guarded

    return decorator


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the form; on POST check the password, unless failures from here or for this account hold it back."""
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("dashboard/login.html", form=form), 400 if request.method == "POST" else 200
    email, address = form.email.data, request.remote_addr or "unknown"
    held = login_throttle.hold(email, address)
    if held:
        return throttled(form, email, address, held)
    account = accounts.authenticate(email, form.password.data)
    if account is None:
        login_throttle.count_failure(email, address)
        staff_sessions.refused(email, "login_failed")
        return render_template("dashboard/login.html", form=form, error="Wrong email or password."), 401
    login_throttle.clear(email, address)
    sessions.begin(account)
    login_user(account)
    return redirect(safe_next(request.args.get("next")))


def throttled(form: LoginForm, email: str, address: str, held: login_throttle.Hold):
    """Answer 429 with when to try again; count it, and log and audit the first of each hold."""
    metrics.SIGN_INS_HELD.labels(held.counter).inc()
    if login_throttle.first_of_its_hold(email, address, held):
        log.warning("sign-in to %s from %s held for %d s: %s", email.lower(), address, held.retry_after, held.reason)
        staff_sessions.refused(email, "login_throttled", held.reason)
    error = f"Too many failed attempts. Try again in {wait_words(held.retry_after)}."
    page = render_template("dashboard/login.html", form=form, error=error)
    return page, 429, {"Retry-After": str(held.retry_after)}


def wait_words(seconds: int) -> str:
    """A wait as a person reads it: 40 seconds, 3 minutes."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def safe_next(target: str | None) -> str:
    """Follow ?next= only to a path on this site, judged on the URL as a browser will read it."""
    followed = as_browsers_read(target or "")
    parts = urlsplit(followed)
    same_site_path = followed.startswith("/") and not followed.startswith("//") and not (parts.scheme or parts.netloc)
    if same_site_path and not CONTROL.search(followed):
        return followed
    return url_for("dashboard.home")


def as_browsers_read(url: str) -> str:
    """The URL after a browser's clean-up (WHATWG URL): tabs and newlines dropped, ends trimmed, \\ read as /."""
    return TABS_AND_NEWLINES.sub("", url).strip(C0_AND_SPACE).replace("\\", "/")


@bp.post("/logout")
@login_required
def logout():
    """Sign out; the audit log keeps who left."""
    sessions.end(current_user)
    logout_user()
    return redirect(url_for("auth.login"))
