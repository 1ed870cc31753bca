"""Login, logout, sessions that expire, role checks and data scope."""
from __future__ import annotations

import functools
import ipaddress
import time

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from .. import db, i18n
from ..i18n import _
from ..models import Role, User
from ..services import audit, users
from ..services.orgs import unit_and_descendant_ids

bp = Blueprint("auth", __name__)


def current_user() -> User | None:
    return g.get("user")


def load_user() -> None:
    g.user = None
    uid = session.get("uid")
    if uid is None:
        return
    from flask import current_app  # noqa: PLC0415

    idle = float(current_app.config["SESSION_IDLE_MINUTES"]) * 60
    now = time.time()
    if now - session.get("seen", 0) > idle or now - session.get("login_at", 0) > \
            float(current_app.config["SESSION_HOURS"]) * 3600:
        session.pop("uid", None)
        g.session_expired = True
        return
    user = db.session().get(User, uid)
    if user is None or not user.active:
        session.pop("uid", None)
        return
    session["seen"] = now
    g.user = user


def login_required(*roles: str | Role):
    """Require a logged-in user with one of ``roles`` (any role when none given)."""
    allowed = {Role(r).value for r in roles}

    def deco(view):
        @functools.wraps(view)
        def wrapped(*a, **kw):
            user = current_user()
            if user is None:
                from . import api_error, wants_json  # noqa: PLC0415

                msg = _("登录已过期，请重新登录") if g.get("session_expired") else _("请先登录")
                if wants_json():
                    return api_error("login_required", msg, 401)
                flash(msg, "warning")
                return redirect(url_for("auth.login", next=request.full_path))
            if allowed and user.role not in allowed:
                abort(403)
            return view(*a, **kw)

        return wrapped

    return deco


def scope_unit_ids(user: User) -> set[int] | None:
    """Org units whose students ``user`` may see; ``None`` means all (admin)."""
    if user.role == Role.ADMIN.value:
        return None
    if user.org_unit_id is None:
        return set()
    return unit_and_descendant_ids(db.session(), user.org_unit_id)


def client_ip() -> str:
    """The client's address: the first X-Forwarded-For entry when it is an IP address
    (the header is the client's to write: anything else, or a 300-character string that
    PostgreSQL would refuse in the audit log's VARCHAR(64), is ignored), else the peer."""
    fwd = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    if fwd and len(fwd) <= 64:
        try:
            return str(ipaddress.ip_address(fwd))
        except ValueError:
            pass
    return (request.remote_addr or "")[:64]


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        s = db.session()
        user = users.authenticate(s, request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            audit.record(s, "auth.login_failed", actor="anonymous", ip=client_ip(),
                         username=request.form.get("username", "")[:64])
            s.commit()
            flash(_("用户名或密码错误"), "error")
            return render_template("auth/login.html"), 401
        audit.record(s, "auth.login", actor=user, ip=client_ip())
        s.commit()
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
        session.permanent = True
        session["uid"] = user.id
        session["login_at"] = session["seen"] = time.time()
        nxt = request.args.get("next") or ""
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = url_for("public.index")
        return redirect(nxt)
    return render_template("auth/login.html")


@bp.route("/logout", methods=["POST"])
def logout():
    user = current_user()
    if user is not None:
        s = db.session()
        audit.record(s, "auth.logout", actor=user, ip=client_ip())
        s.commit()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("public.index"))


del i18n
