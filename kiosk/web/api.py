"""JSON API (``/api/v1``).  Errors: ``{"ok": false, "error": {"code", "message"}}``."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__)


@bp.route("/ping")
def ping():
    return {"ok": True}
