"""Station-node sync over HTTP.

Central server (``/api/v1/sync``, ``Authorization: Bearer <station token>``, no cookies,
so no CSRF token): ``GET roster`` (the unit's slice), ``GET blobs/<sha>`` (reference
photos of the unit), ``POST blobs/missing`` and ``PUT blobs/<sha>`` (photo files, checked
against their hash), ``POST push`` (outbox entries, applied once each).  Every refusal is
``{"ok": false, "error": {"code", "message", "entry_id"?}}`` and is audited.

Station node (``/api/v1/node/status``): the node's sync status for the station page.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import db, i18n
from ..models import OrgUnit, Role, StationToken, Term
from ..services import sync as svc
from ..store import StoreError
from . import csrf
from .auth import client_ip, current_user, login_required

bp = Blueprint("sync_api", __name__)
node_bp = Blueprint("node_api", __name__)
tokens_bp = Blueprint("station_tokens", __name__)
conflicts_bp = Blueprint("sync_conflicts", __name__)
csrf.exempt(bp)

i18n.add_translations({
    "在线": "Online", "离线": "Offline", "同步状态未知": "Sync status unknown", "尚未同步": "never",
    "同步出错": "Sync error", "待同步": "Waiting", "项": "items", "其中照片": "photos", "批准决定": "approvals",
    "上次同步": "Last sync", "被拒收": "Refused", "中心待复核": "Pending review on the server",
    "离线工位节点（kiosk station-node）用工位令牌与本服务器同步；每个令牌只对一个批次的一个学习中心有效，服务器只保存其摘要。":
        "Station nodes (kiosk station-node) sync with this server with a station token, valid for one term and one centre; the server keeps only its hash.",
    "工位令牌": "Station tokens", "新建工位令牌": "New station token", "令牌只显示这一次": "The token is shown only once",
    "请复制到工位电脑：": "Copy it to the station's computer:", "吊销": "Revoke", "已吊销": "Revoked", "有效": "Active",
    "最近使用": "Last used", "前缀": "Prefix", "学习中心": "Learning centre", "名称": "Name",
    "已吊销工位令牌 {prefix}": "Revoked station token {prefix}",
    "确定": "OK", "采用离线工位的照片": "Use the station's photo", "保留服务器上的现状（离线照片作废）":
        "Keep what the server has (reject the station's photo)", "同步冲突已处理": "Sync conflict settled",
    "中心服务器已有该学生的通过照片：在此再次批准将交管理员复核（两张照片都会保留）":
        "The server already has an approved photo of this student: approving here again goes to an admin's "
        "review (both photos are kept)",
    "该学生已在中心服务器名单中撤销（据上次同步）：本工位不为其采集":
        "This student was withdrawn on the server (as of the last sync): this station takes no photo of them", "请选择批次和学习中心": "Choose a term and a centre",
})

MAX_BLOB_BYTES = 20_000_000
MAX_PUSH_BYTES = 20_000_000


def _refused(e: svc.SyncError, token=None, what: str = ""):
    s = db.session()
    s.rollback()
    svc.refuse(s, e, token=token, ip=client_ip(), header=request.headers.get("Authorization"), what=what)
    s.commit()
    err = {"code": e.code, "message": e.message}
    if e.entry_id:
        err["entry_id"] = e.entry_id
    return jsonify({"ok": False, "error": err}), e.status


def _token():
    return svc.authenticate(db.session(), request.headers.get("Authorization"))


@bp.get("/roster")
def roster():
    token = None
    try:
        token = _token()
        data = svc.roster_slice(db.session(), token)
    except svc.SyncError as e:
        return _refused(e, token, "roster")
    # the node sends the version it holds: an unchanged slice is not sent again (slow links)
    version = svc.slice_version(data)
    db.session().rollback()
    if request.args.get("since") == version:
        return jsonify({"ok": True, "unchanged": True, "version": version})
    return jsonify({"ok": True, "version": version, **data})


@bp.get("/blobs/<sha256>")
def get_blob(sha256: str):
    token = None
    try:
        token = _token()
        if not svc.reference_allowed(db.session(), token, sha256):
            raise svc.SyncError("not_found", "没有这张参考照片，或它不属于本工位的学习中心", 404)
        try:
            data = current_app.extensions["kiosk_store"].get(sha256)
        except StoreError:
            raise svc.SyncError("not_found", "参考照片文件缺失", 404) from None
    except svc.SyncError as e:
        return _refused(e, token, "blob_get")
    resp = Response(data, mimetype="application/octet-stream")
    resp.headers["Cache-Control"] = "no-store, private"
    return resp


@bp.post("/blobs/missing")
def blobs_missing():
    token = None
    try:
        token = _token()
        body = request.get_json(silent=True) or {}
        shas = body.get("sha256")
        if not isinstance(shas, list) or len(shas) > 2000:
            raise svc.SyncError("bad_request", "sha256 须为摘要列表（最多 2000 个）", 400)
        missing = svc.missing_blobs(current_app.extensions["kiosk_store"], [str(x) for x in shas])
    except svc.SyncError as e:
        return _refused(e, token, "blobs_missing")
    db.session().rollback()
    return jsonify({"ok": True, "missing": missing})


@bp.put("/blobs/<sha256>")
def put_blob(sha256: str):
    token = None
    try:
        token = _token()
        if (request.content_length or 0) > MAX_BLOB_BYTES:
            raise svc.SyncError("too_large", "文件太大", 413)
        new = svc.receive_blob(current_app.extensions["kiosk_store"], sha256, request.get_data(cache=False))
    except svc.SyncError as e:
        return _refused(e, token, f"blob_put:{sha256[:64]}")
    db.session().rollback()
    return jsonify({"ok": True, "sha256": sha256, "new": new})


@bp.post("/push")
def push():
    token = None
    s = db.session()
    try:
        token = _token()
        if (request.content_length or 0) > MAX_PUSH_BYTES:
            raise svc.SyncError("too_large", "同步请求太大", 413)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise svc.SyncError("bad_request", "请求须为 JSON 对象", 400)
        out = svc.push(s, current_app.extensions["kiosk_store"], token, body, ip=client_ip())
        s.commit()
    except svc.SyncError as e:
        return _refused(e, token, "push")
    return jsonify({"ok": True, **out})


# ---------------------------------------------------------------------- node
@node_bp.get("/status")
@login_required(Role.ADMIN, Role.OPERATOR)
def node_status():
    from ..services import node  # noqa: PLC0415

    if not current_app.config.get("NODE_SERVER"):
        return jsonify({"ok": True, "node": False})
    st = node.status(db.session(), current_app)
    db.session().rollback()
    return jsonify({"ok": True, "node": True, **st})


@node_bp.get("/students/<xh>")
@login_required(Role.ADMIN, Role.OPERATOR)
def node_student(xh: str):
    """What the server said about a student at the last pull (for the station card)."""
    from ..models import Student  # noqa: PLC0415
    from ..services import node  # noqa: PLC0415
    from .auth import scope_unit_ids  # noqa: PLC0415
    from ..services.students import scoped  # noqa: PLC0415

    if not current_app.config.get("NODE_SERVER"):
        return jsonify({"ok": True, "node": False})
    s = db.session()
    user = current_user()
    if s.scalar(scoped(select(Student.id).where(Student.xh == xh), scope_unit_ids(user))) is None:
        return jsonify({"ok": False, "error": {"code": "not_found", "message": i18n._("未找到该学生")}}), 404
    d = node.server_student(s, xh)
    s.rollback()
    return jsonify({"ok": True, "node": True, "xh": xh, "server_approved": d["approved"], "withdrawn": d["withdrawn"]})


# ---------------------------------------------------------------------- admin: tokens
def _tokens_page(new_token: str | None = None, new_row=None):
    s = db.session()
    return render_template("admin/station_tokens.html",
                           tokens=s.scalars(select(StationToken).order_by(StationToken.id.desc())).all(),
                           terms=s.scalars(select(Term).order_by(Term.code.desc())).all(),
                           units=s.scalars(select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.name)).all(),
                           new_token=new_token, new_row=new_row)


@tokens_bp.route("/", methods=["GET", "POST"])
@login_required(Role.ADMIN)
def tokens_page():
    """List, create (the token is shown once, in this response only) and revoke tokens."""
    if request.method == "GET":
        return _tokens_page()
    s = db.session()
    term = s.scalar(select(Term).where(Term.code == request.form.get("term", "")))
    unit = s.get(OrgUnit, request.form.get("unit_id", type=int) or -1)
    if term is None or unit is None:
        flash(i18n._("请选择批次和学习中心"), "error")
        return redirect(url_for("station_tokens.tokens_page"))
    row, token = svc.create_token(s, term, unit, name=request.form.get("name", ""), actor=current_user())
    s.commit()
    resp = current_app.make_response(_tokens_page(token, row))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@tokens_bp.route("/<int:token_id>/revoke", methods=["POST"])
@login_required(Role.ADMIN)
def revoke(token_id: int):
    s = db.session()
    row = s.get(StationToken, token_id)
    if row is None:
        abort(404)
    svc.revoke_token(s, row, actor=current_user())
    s.commit()
    flash(i18n._("已吊销工位令牌 {prefix}", prefix=row.prefix), "success")
    return redirect(url_for("station_tokens.tokens_page"))


# ---------------------------------------------------------------------- admin: conflicts
@conflicts_bp.route("/<int:item_id>/decide", methods=["POST"])
@login_required(Role.ADMIN)
def decide(item_id: int):
    from ..models import ReviewItem  # noqa: PLC0415

    s = db.session()
    item = s.get(ReviewItem, item_id)
    if item is None:
        abort(404)
    try:
        svc.decide_conflict(s, item, request.form.get("decision", ""), current_user(),
                            note=request.form.get("note", ""), ip=client_ip())
    except svc.SyncError as e:
        s.rollback()
        flash(i18n._(e.message), "error")
    else:
        s.commit()
        flash(i18n._("同步冲突已处理"), "success")
    nxt = request.form.get("next") or ""
    return redirect(nxt if nxt.startswith("/review") else url_for("review.index"))
