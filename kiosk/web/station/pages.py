"""Station pages: start a capture session, the station itself, end it, and the review
queue's "重拍 / call to station" action."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from ... import db
from ...i18n import _, current_lang
from ...models import CaptureSession, ReviewItem, Role, Station, StationCall, Term
from ...services import station as svc
from ..auth import client_ip, current_user, login_required
from . import texts
from .runtime import get_runtime

bp = Blueprint("station", __name__)


@bp.app_context_processor
def _station_calls():
    """``station_called(student_id)`` for the review queue's row action (one query per page)."""
    def station_called(student_id: int) -> bool:
        if "station_open_calls" not in g:
            g.station_open_calls = set(db.session().scalars(
                select(StationCall.student_id).where(StationCall.done_at.is_(None))))
        return student_id in g.station_open_calls

    return {"station_called": station_called}


@bp.route("/")
@login_required(Role.ADMIN, Role.OPERATOR)
def index():
    s = db.session()
    user = current_user()
    if svc.open_session(s, user) is not None and not request.args.get("new"):
        return redirect(url_for("station.session_page"))
    terms = s.scalars(select(Term).order_by(Term.code.desc())).all()
    last = s.scalar(select(Station).where(Station.org_unit_id == user.org_unit_id)
                    .order_by(Station.id.desc()).limit(1)) if user.org_unit_id else None
    return render_template("station/start.html", terms=terms, last=last, kinds=svc.CAMERA_KINDS,
                           form=request.args)


@bp.route("/start", methods=["POST"])
@login_required(Role.ADMIN, Role.OPERATOR)
def start():
    s = db.session()
    user = current_user()
    f = request.form
    term = s.scalar(select(Term).where(Term.code == f.get("term", "")))
    try:
        if term is None:
            raise svc.StationError("term", "请选择毕业批次")
        camera = svc.camera_config(f.get("camera_kind", "browser"), f.get("camera_value", ""))
        svc.start_session(s, user, term, station_name=f.get("station_name", ""), place=f.get("place", ""),
                          camera=camera, ip=client_ip())
    except svc.StationError as e:
        s.rollback()
        flash(_(e.message), "error")
        return redirect(url_for("station.index", new=1))
    s.commit()
    # sessions this start ended (the operator's, the station's) free their cameras now
    get_runtime(current_app).retain(set(s.scalars(select(CaptureSession.id).where(CaptureSession.ended_at.is_(None)))))
    flash(_("采集场次已开始"), "success")
    return redirect(url_for("station.session_page"))


@bp.route("/session")
@login_required(Role.ADMIN, Role.OPERATOR)
def session_page():
    s = db.session()
    cs = svc.open_session(s, current_user())
    if cs is None:
        return redirect(url_for("station.index"))
    return render_template("station/session.html", cs=cs, checklist=svc.CHECKLIST,
                           camera_kind=(cs.camera or {}).get("kind", "browser"),
                           js_texts={**{t: _(t) for t in texts.JS_TEXTS}, "__lang": current_lang()})


@bp.route("/end", methods=["POST"])
@login_required(Role.ADMIN, Role.OPERATOR)
def end():
    s = db.session()
    user = current_user()
    cs = svc.open_session(s, user)
    if cs is not None:
        svc.end_session(s, cs, user, client_ip())
        s.commit()
        get_runtime(current_app).forget(cs.id)
        flash(_("采集场次已结束"), "success")
    return redirect(url_for("station.index"))


@bp.route("/call/<int:item_id>", methods=["POST"])
@login_required(Role.ADMIN, Role.OPERATOR)
def call(item_id: int):
    """From the review queue: put the item's student first in the stations' call list."""
    from ..review import _scoped  # noqa: PLC0415 - the queue's own scope rule

    s = db.session()
    user = current_user()
    item = s.scalar(_scoped(select(ReviewItem).where(ReviewItem.id == item_id), user))
    if item is None:
        abort(404)
    nxt = request.form.get("next") or ""
    back = nxt if nxt.startswith("/review") else url_for("review.index")
    try:
        _call, created = svc.call_student(s, item, user, client_ip())
    except svc.StationError as e:
        s.rollback()
        flash(_(e.message), "warning")
        return redirect(back)
    s.commit()
    if created:
        flash(_("已把 {name}（{xh}）排到工作站叫号队列最前", name=item.student.name, xh=item.student.xh), "success")
    else:
        flash(_("{name}（{xh}）已在工作站叫号队列中", name=item.student.name, xh=item.student.xh), "info")
    return redirect(back)

