"""Landing page: sends each kind of user where they work."""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for

from ..i18n import _
from ..models import Role
from .auth import current_user

bp = Blueprint("public", __name__)

#: Where each role starts; an area missing from this build is skipped.
HOME_BY_ROLE = {Role.ADMIN.value: "admin.home", Role.OPERATOR.value: "station.index",
                Role.IMAGING_UNIT.value: "unit.index"}
#: Public links on the landing page: (endpoint, Chinese text).
PUBLIC_LINKS = (("selfcheck.index", "学生照片核对"),)


@bp.route("/")
def index():
    user = current_user()
    if user is not None:
        endpoint = HOME_BY_ROLE.get(user.role)
        if endpoint in current_app.view_functions:
            return redirect(url_for(endpoint))
    links = [{"url": url_for(ep), "text": _(text)} for ep, text in PUBLIC_LINKS
             if ep in current_app.view_functions]
    return render_template("index.html", home_links=links)


@bp.route("/healthz")
def healthz():
    return {"ok": True}
