"""Station-node sync over HTTP.

Central server (``/api/v1/sync``, ``Authorization: Bearer <station token>``, no cookies,
so no CSRF token): ``GET roster`` (the unit's slice), ``GET blobs/<sha>`` (reference
photos of the unit), ``POST blobs/missing`` and ``PUT blobs/<sha>`` (photo files, checked
against their hash), ``POST push`` (outbox entries, applied once each).  Every refusal is
``{"ok": false, "error": {"code", "message", "entry_id"?}}`` and is audited.

Station node (``/api/v1/node/status``): the node's sync status for the station page.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from .. import db, i18n
from ..models import Role
from ..services import sync as svc
from ..store import StoreError
from . import csrf
from .auth import client_ip, login_required

bp = Blueprint("sync_api", __name__)
node_bp = Blueprint("node_api", __name__)
csrf.exempt(bp)

i18n.add_translations({
    "在线": "Online", "离线": "Offline", "同步状态未知": "Sync status unknown", "尚未同步": "never",
    "同步出错": "Sync error", "待同步": "Waiting", "项": "items", "其中照片": "photos", "批准决定": "approvals",
    "上次同步": "Last sync", "被拒收": "Refused", "中心待复核": "Pending review on the server",
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
    return jsonify({"ok": True, **data})


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
