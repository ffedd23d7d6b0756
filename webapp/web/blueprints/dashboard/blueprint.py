"""The dashboard's blueprint, which every page module adds its routes to, and the banner every page can show."""

from flask import Blueprint

from webapp.domain.staff import readiness

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.app_context_processor
def banner():
    """Every page's header can ask whether reminders are at risk (only signed-in pages do)."""
    return {"reminder_risks": readiness.risks}
