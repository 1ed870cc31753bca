"""The station's JSON API (``/api/v1/station``), used by ``static/station.js``.

Every answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": {"code", "message"}}``;
mutating answers carry the whole station ``state`` so the page re-renders from one
source of truth (the same the page loads on a reload).  Every request needs a logged-in
operator/admin with an open capture session; students and photos are looked up within
the operator's 学习中心 scope and the session's term (anything else is ``not_found``).

Image bodies (preview frames, captures, QR frames) are posted raw
(``Content-Type: image/jpeg``) with the ``X-CSRFToken`` header.
"""
from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ... import db
from ...i18n import _, current_lang, status_label
from ...idcard import mask
from ...models import PhotoStatus, Role
from ...services import audit, photos, students
from ...services import station as svc
from ...store import StoreError
from .. import api_error
from ..auth import client_ip, current_user, login_required, scope_unit_ids
from . import texts  # noqa: F401 - registers the English strings
from .runtime import PREVIEW_SIDE, get_runtime

bp = Blueprint("station_api", __name__)

MAX_FRAME_BYTES = 15_000_000
MAX_PREVIEW_BYTES = 3_000_000
VERDICT_ZH = {"pass": "合格", "warn": "有提醒：请人工确认", "fail": "不合格", "unusable": "无法生成证件照"}
STATUS_ZH = {"pass": "通过", "warn": "提醒", "fail": "未通过", "not_assessed": "未评估"}


# ---------------------------------------------------------------------- plumbing
@bp.errorhandler(svc.StationError)
def _station_error(e: svc.StationError):
    s = db.session()
    if e.commit:
        s.commit()
    else:
        s.rollback()
    return api_error(e.code, _(e.message), e.status)


def _profile() -> str:
    return current_app.config["QC_PROFILE"]


@lru_cache(maxsize=4)
def _template(profile: str):
    from capture import Template  # noqa: PLC0415

    return Template.from_profile(profile)


def _ctx():
    s = db.session()
    user = current_user()
    cs = svc.open_session(s, user)
    if cs is None:
        raise svc.StationError("no_session", "请先开始采集场次", 409)
    return s, user, cs, scope_unit_ids(user)


def _current(s, cs, scope):
    st = svc.current_student(s, cs, scope)
    if st is None:
        raise svc.StationError("no_student", "请先查找并选择学生", 409)
    return st


def _body(max_bytes: int = MAX_FRAME_BYTES) -> bytes:
    from capture.frames import sniff_format  # noqa: PLC0415

    data = request.get_data(cache=False)
    if not data:
        raise svc.StationError("empty", "没有收到画面")
    if len(data) > max_bytes:
        raise svc.StationError("too_large", f"画面太大（{len(data) // 1_000_000} MB）", 413)
    if sniff_format(data) is None:
        raise svc.StationError("bad_format", "只接受 JPEG 或 PNG 画面")
    return data


def _kind(cs) -> str:
    return (cs.camera or {}).get("kind", "browser")


def _camera(cs):
    from capture import SourceError  # noqa: PLC0415

    if _kind(cs) == "browser":
        raise svc.StationError("browser_camera", "本场次使用浏览器摄像头")
    from .runtime import SessionEnded  # noqa: PLC0415

    try:
        return get_runtime(current_app).camera(cs.id, cs.camera,
                                               settle_seconds=current_app.config.get("STATION_HOTFOLDER_SETTLE"))
    except SourceError as e:
        raise svc.StationError("camera_unavailable", e.message_zh, 503) from None
    except SessionEnded:
        # This request read its session just before the session was ended.
        raise svc.StationError("no_session", "请先开始采集场次", 409) from None


def _json_number(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 2)
    return v


def _fmt_measured(c: dict) -> str:
    v = c.get("measured")
    if v is None:
        return ""
    if isinstance(v, dict):
        return "，".join(f"{k} {_json_number(x)}" for k, x in v.items())
    if isinstance(v, float):
        v = round(v, 2 if abs(v) < 10 else 1)
    unit = c.get("unit") or ""
    return f"{v} {unit}".strip()


# ---------------------------------------------------------------------- views of records
def _brief(st, status: str | None) -> dict:
    return {"id": st.id, "xh": st.xh, "name": st.name, "id_masked": mask(st.id_number),
            "centre": st.centre.name if st.centre else "", "major": st.major or "", "class_name": st.class_name or "",
            "status": status, "status_label": status_label(status),
            "withdrawn": st.withdrawn_at is not None, "withdrawn_label": _("已撤销") if st.withdrawn_at else None}


def _card(s, st) -> dict:
    status = students.status_map(s, [st.id]).get(st.id)
    d = _brief(st, status)
    approved = photos.approved_photo(s, st.id)
    d.update({"gender": st.gender or "", "level": st.level or "", "collect_code": st.collect_code,
              "collect_code_at": st.collect_code_at.isoformat() + "Z" if st.collect_code_at else None,
              "has_reference": bool(st.reference_sha256),
              "reference_url": f"/api/v1/station/students/{st.id}/reference.jpg" if st.reference_sha256 else None,
              "approved_version": approved.version if approved else None,
              "approved_url": f"/api/v1/station/students/{st.id}/approved.jpg" if approved else None,
              # withdrawn: found and shown, but no photo is taken (the server refuses)
              "withdrawn_at": st.withdrawn_at.isoformat() + "Z" if st.withdrawn_at else None,
              "withdrawn_note": _(svc.WITHDRAWN_ZH) if st.withdrawn_at else None})
    return d


def _check_row(c: dict) -> dict:
    en = current_lang() == "en"
    return {"check": c["check"], "status": c["status"], "status_label": _(STATUS_ZH.get(c["status"], c["status"])),
            "label_zh": c.get("label_zh"), "message": (c.get("message_en") if en else c.get("message_zh")) or "",
            "message_zh": c.get("message_zh") or "", "measured": _fmt_measured(c), "expected": c.get("expected") or ""}


def _refusal(photo) -> dict | None:
    if photo.status != PhotoStatus.UNUSABLE.value:
        return None
    r = get_runtime(current_app).recall(photo.id, "refusal")
    if r is None:  # after a restart: the reason kept on the photo, without the hints
        note = photo.decision_note or ""
        code = note[1:note.index("]")] if note.startswith("[") and "]" in note else "refused"
        r = {"code": code, "message_zh": note.split("] ", 1)[-1] or "无法生成证件照", "message_en": "", "hints": []}
    en = current_lang() == "en"
    return {"code": r.get("code"), "message": (r.get("message_en") if en else r.get("message_zh")) or r.get("message_zh"),
            "message_zh": r.get("message_zh"),
            "hints": [(h.get("en") if en else h.get("zh")) or h.get("zh") for h in r.get("hints") or []]}


def _result(photo, timings: dict | None = None) -> dict:
    rep = photo.latest_report
    checks = rep.checks if rep is not None else []
    order = {"fail": 0, "warn": 1}
    problems = sorted((c for c in checks if c.get("status") in order), key=lambda c: order[c["status"]])
    verdict = photo.qc_verdict or "unusable"
    base = f"/api/v1/station/photos/{photo.id}"
    return {"photo_id": photo.id, "version": photo.version, "status": photo.status,
            "status_label": status_label(photo.status), "verdict": verdict, "verdict_label": _(VERDICT_ZH[verdict]),
            "sha256": photo.sha256, "original_sha256": photo.original_sha256,
            "problems": [_check_row(c) for c in problems],
            "notes": [_check_row(c) for c in checks if c.get("status") == "not_assessed"],
            "refusal": _refusal(photo), "decidable": photo.status in photos.DECIDABLE,
            "needs_checklist": verdict == "warn", "needs_admin": verdict == "fail",
            "annotated_url": base + "/annotated.png" if photo.sha256 else None,
            "photo_url": base + "/photo.jpg" if photo.sha256 else None,
            "captured_at": photo.captured_at.isoformat() + "Z", "timings_ms": timings or None}


def _state(s, cs, scope) -> dict:
    st = svc.current_student(s, cs, scope)
    awaiting = svc.awaiting_photo(s, cs) if st is not None else None
    queue = svc.call_queue(s, cs, scope)
    return {
        "session": {"id": cs.id, "term": cs.term.code, "term_name": cs.term.name, "station": cs.station.name,
                    "place": cs.place, "camera": cs.camera, "operator": cs.operator.display_name or cs.operator.username,
                    "started_at": cs.started_at.isoformat() + "Z"},
        "student": _card(s, st) if st is not None else None,
        "result": _result(awaiting) if awaiting is not None else None,
        "progress": svc.progress(s, cs, scope),
        "queue": [{"id": q["student"].id, "xh": q["student"].xh, "name": q["student"].name,
                   "reason": _(q["reason"])} for q in queue],
    }


def _ok(s, cs, scope, **extra):
    return jsonify({"ok": True, **extra, "state": _state(s, cs, scope)})


def _image(data: bytes, mimetype: str) -> Response:
    resp = Response(data, mimetype=mimetype)
    resp.headers["Cache-Control"] = "no-store, private"
    return resp


def _stored(sha256: str, missing_zh: str = "照片文件缺失") -> bytes:
    """Bytes of a stored photo; a file missing from the store is a 404 with a reason."""
    try:
        return current_app.extensions["kiosk_store"].get(sha256)
    except StoreError:
        raise svc.StationError("not_found", missing_zh, 404) from None


# ---------------------------------------------------------------------- state, students
@bp.get("/state")
@login_required(Role.ADMIN, Role.OPERATOR)
def state():
    """The whole station state (what the page renders; loaded on every page load).

    A server camera is opened here, when the page loads, so a hot folder starts watching
    before the photographer shoots (files already in the folder when it opens are not
    captures); a camera that cannot open is reported in ``camera_error``."""
    s, _user, cs, scope = _ctx()
    camera_error = None
    if _kind(cs) != "browser":
        try:
            _camera(cs)
        except svc.StationError as e:
            camera_error = {"code": e.code, "message": _(e.message)}
    return jsonify({"ok": True, "state": _state(s, cs, scope), "camera_error": camera_error})


@bp.get("/students")
@login_required(Role.ADMIN, Role.OPERATOR)
def search():
    s, _user, cs, scope = _ctx()
    q = (request.args.get("q") or "").strip()[:64]
    if not q:
        return jsonify({"ok": True, "students": [], "total": 0})
    rows, total = students.search(s, cs.term_id, q, scope, limit=20)
    status = students.status_map(s, [r.id for r in rows])
    return jsonify({"ok": True, "students": [_brief(r, status.get(r.id)) for r in rows], "total": total})


@bp.get("/students/<int:student_id>")
@login_required(Role.ADMIN, Role.OPERATOR)
def student(student_id: int):
    s, _user, cs, scope = _ctx()
    return jsonify({"ok": True, "student": _card(s, svc.get_student(s, cs, student_id, scope))})


@bp.get("/students/<int:student_id>/reference.jpg")
@login_required(Role.ADMIN, Role.OPERATOR)
def reference(student_id: int):
    s, _user, cs, scope = _ctx()
    st = svc.get_student(s, cs, student_id, scope)
    if not st.reference_sha256:
        raise svc.StationError("not_found", "该学生没有参考照片", 404)
    return _image(_stored(st.reference_sha256, "参考照片文件缺失"), "image/jpeg")


@bp.get("/students/<int:student_id>/approved.jpg")
@login_required(Role.ADMIN, Role.OPERATOR)
def approved(student_id: int):
    s, _user, cs, scope = _ctx()
    st = svc.get_student(s, cs, student_id, scope)
    p = photos.approved_photo(s, st.id)
    if p is None or not p.sha256:
        raise svc.StationError("not_found", "该学生没有已通过的照片", 404)
    return _image(_stored(p.sha256), "image/jpeg")


@bp.post("/select")
@login_required(Role.ADMIN, Role.OPERATOR)
def select_student():
    s, user, cs, scope = _ctx()
    body = request.get_json(silent=True) or {}
    st = svc.get_student(s, cs, body.get("student_id"), scope)
    svc.select_student(s, cs, st, user, client_ip(), via=str(body.get("via") or "search")[:16])
    s.commit()
    return _ok(s, cs, scope)


@bp.post("/next")
@login_required(Role.ADMIN, Role.OPERATOR)
def call_next():
    s, user, cs, scope = _ctx()
    queue = svc.call_queue(s, cs, scope, limit=1)
    if not queue:
        raise svc.StationError("queue_empty", "没有待叫号的学生", 404)
    svc.select_student(s, cs, queue[0]["student"], user, client_ip(), via="next")
    s.commit()
    return _ok(s, cs, scope)


@bp.post("/qr")
@login_required(Role.ADMIN, Role.OPERATOR)
def scan_qr():
    """A camera frame with the student's 采集码 QR: select its owner, or store it on the
    student at the camera (verbatim; ``?replace=1`` to replace a different code)."""
    from capture import CaptureError  # noqa: PLC0415
    from capture.qr import decode_qr  # noqa: PLC0415

    s, user, cs, scope = _ctx()
    if not request.content_length and _kind(cs) == "opencv":
        data = _camera(cs).grab_jpeg() or b""
        if not data:
            raise svc.StationError("no_frame", "相机还没有画面", 503)
    else:
        data = _body()
    try:
        texts_found = decode_qr(data)
    except CaptureError as e:
        raise svc.StationError(e.code, e.message_zh) from None
    if not texts_found:
        raise svc.StationError("no_qr", "未识别到二维码：请把采集码正对镜头、保持稳定后再扫", 422)
    code = texts_found[0]
    owner = svc.student_by_code(s, cs.term_id, code, scope)
    if owner is not None:
        svc.select_student(s, cs, owner, user, client_ip(), via="collect_code")
        s.commit()
        return _ok(s, cs, scope, action="selected", code=code)
    st = _current(s, cs, scope)
    svc.store_collect_code(s, cs, st, code, user, replace=request.args.get("replace") == "1", ip=client_ip())
    s.commit()
    return _ok(s, cs, scope, action="stored", code=code)


# ---------------------------------------------------------------------- preview, guidance
@bp.post("/guide")
@login_required(Role.ADMIN, Role.OPERATOR)
def guide():
    """Live hints for one preview frame: posted (browser camera; header ``X-Capture-Size:
    1280x720`` = the size a capture will have) or the server camera's newest frame."""
    from capture import CaptureError  # noqa: PLC0415

    s, _user, cs, _scope = _ctx()
    capture_size = None
    if request.content_length:
        frame: Any = _body(MAX_PREVIEW_BYTES)
        raw = (request.headers.get("X-Capture-Size") or "").lower().split("x")
        if len(raw) == 2 and all(p.strip().isdigit() for p in raw):
            w, h = (int(p) for p in raw)
            if 16 <= w <= 20000 and 16 <= h <= 20000:
                capture_size = (w, h)
    else:
        rgb = _camera(cs).latest() if _kind(cs) == "opencv" else None
        if rgb is None:
            raise svc.StationError("no_frame", "相机还没有画面", 503)
        import cv2  # noqa: PLC0415

        h, w = rgb.shape[:2]
        k = min(1.0, PREVIEW_SIDE / float(max(h, w)))
        frame = cv2.resize(rgb, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA) if k < 1 else rgb
        capture_size = (w, h)
    db.session().rollback()  # nothing to write: do not hold the database during detection
    tracker, lock = get_runtime(current_app).guide(cs.id, _template(_profile()))
    if not lock.acquire(timeout=2.0):
        return api_error("busy", _("上一帧还在处理"), 429)
    try:
        hints = tracker(frame, capture_size)
    except CaptureError as e:
        return api_error(e.code, _(e.message_zh), 400)
    finally:
        lock.release()
    d = hints.to_dict()
    en = current_lang() == "en"
    d["text"] = [h["en"] if en else h["zh"] for h in d["hints"]]
    return jsonify({"ok": True, "hints": d})


@bp.get("/preview.jpg")
@login_required(Role.ADMIN, Role.OPERATOR)
def preview():
    _s, _user, cs, _scope = _ctx()
    if _kind(cs) != "opencv":
        raise svc.StationError("no_preview", "本场次的相机没有服务器端预览", 404)
    jpg = _camera(cs).preview_jpeg()
    if jpg is None:
        raise svc.StationError("no_frame", "相机还没有画面", 503)
    return _image(jpg, "image/jpeg")


# ---------------------------------------------------------------------- capture
@bp.post("/capture")
@login_required(Role.ADMIN, Role.OPERATOR)
def capture_frame():
    """The full-resolution frame from the browser camera (JPEG/PNG body)."""
    s, user, cs, scope = _ctx()
    st = _current(s, cs, scope)
    svc.ensure_not_withdrawn(st)      # before the body is read or anything is stored
    return _process(s, user, cs, scope, st, _body(), source="browser")


@bp.post("/server-capture")
@login_required(Role.ADMIN, Role.OPERATOR)
def server_capture():
    """OpenCV camera: take its newest frame now.  Hot folder: take a newly completed file
    if one arrived (``{"captured": false}`` while waiting)."""
    s, user, cs, scope = _ctx()
    st = _current(s, cs, scope)  # before touching the folder: a file waits for a student
    svc.ensure_not_withdrawn(st)    # ... who can be photographed
    cam = _camera(cs)
    if _kind(cs) == "opencv":
        data = cam.grab_jpeg()
        if data is None:
            raise svc.StationError("no_frame", "相机还没有画面", 503)
        return _process(s, user, cs, scope, st, data, source="opencv")
    fr = cam.next_file()
    if fr is None:
        s.rollback()
        return jsonify({"ok": True, "captured": False, "problems": cam.problems()})
    return _process(s, user, cs, scope, st, fr.data or b"", source="hotfolder", name=fr.name)


def _process(s, user, cs, scope, st, data: bytes, *, source: str, name: str | None = None):
    import qc  # noqa: PLC0415

    t0 = time.perf_counter()
    store = current_app.extensions["kiosk_store"]
    ip = client_ip()
    original_sha = svc.receive_frame(s, store, cs, st, data, user, source=source, ip=ip)
    s.commit()  # the frame is on disk and on record before anything that could fail
    t1 = time.perf_counter()
    try:
        photo, prepared = svc.capture(s, store, cs, st, data, user, profile=_profile(), ip=ip, name=name)
        png = qc.annotate(prepared.spec, prepared.report, profile=_profile()) if prepared.spec is not None else None
        t2 = time.perf_counter()
        s.commit()
    except Exception:  # noqa: BLE001 - whatever broke, the operator gets an answer and the frame is kept
        s.rollback()
        current_app.logger.exception("station capture failed")
        audit.record(s, "station.capture_failed", actor=user, object_type="student", object_id=st.id,
                     term_id=cs.term_id, photo_sha256=original_sha, station=cs.station.name, ip=ip, xh=st.xh)
        s.commit()
        return api_error("capture_failed", _("处理照片时出错；原始画面已保存，请重拍"), 500)
    rt = get_runtime(current_app)
    if png is not None:
        rt.remember(photo.id, "png", png)
    if prepared.refusal is not None:
        rt.remember(photo.id, "refusal", prepared.refusal)
    timings = {k: round(v, 1) for k, v in prepared.timings_ms.items()}
    timings.update(store_ms=round((t1 - t0) * 1000, 1), total_ms=round((time.perf_counter() - t0) * 1000, 1),
                   annotate_ms=round((t2 - t1) * 1000 - sum(prepared.timings_ms.values()), 1))
    return jsonify({"ok": True, "captured": True, "result": _result(photo, timings), "state": _state(s, cs, scope)})


# ---------------------------------------------------------------------- photos, decisions
@bp.get("/photos/<int:photo_id>")
@login_required(Role.ADMIN, Role.OPERATOR)
def photo_result(photo_id: int):
    s, _user, cs, scope = _ctx()
    return jsonify({"ok": True, "result": _result(svc.session_photo(s, cs, photo_id, scope))})


@bp.get("/photos/<int:photo_id>/annotated.png")
@login_required(Role.ADMIN, Role.OPERATOR)
def annotated(photo_id: int):
    import qc  # noqa: PLC0415

    s, _user, cs, scope = _ctx()
    p = svc.session_photo(s, cs, photo_id, scope)
    rt = get_runtime(current_app)
    png = rt.recall(p.id, "png")
    if png is None:
        if not p.sha256:
            raise svc.StationError("not_found", "这张照片没有生成证件照", 404)
        png = qc.annotate(_stored(p.sha256), None, profile=p.profile or _profile())
        rt.remember(p.id, "png", png)
    return _image(png, "image/png")


@bp.get("/photos/<int:photo_id>/photo.jpg")
@login_required(Role.ADMIN, Role.OPERATOR)
def photo_jpeg(photo_id: int):
    s, _user, cs, scope = _ctx()
    p = svc.session_photo(s, cs, photo_id, scope)
    if not p.sha256:
        raise svc.StationError("not_found", "这张照片没有生成证件照", 404)
    return _image(_stored(p.sha256), "image/jpeg")


@bp.post("/photos/<int:photo_id>/approve")
@login_required(Role.ADMIN, Role.OPERATOR)
def approve(photo_id: int):
    s, user, cs, scope = _ctx()
    p = svc.session_photo(s, cs, photo_id, scope)
    body = request.get_json(silent=True) or {}
    ticked = body.get("checklist") if isinstance(body.get("checklist"), list) else []
    svc.approve(s, cs, p, user, checklist=[str(x) for x in ticked], ip=client_ip())
    s.commit()
    return _ok(s, cs, scope, approved=_result(p))


@bp.post("/photos/<int:photo_id>/override")
@login_required(Role.ADMIN, Role.OPERATOR)
def override(photo_id: int):
    s, user, cs, scope = _ctx()
    p = svc.session_photo(s, cs, photo_id, scope)
    body = request.get_json(silent=True) or {}
    svc.override(s, cs, p, user, username=str(body.get("username") or ""), password=str(body.get("password") or ""),
                 reason=str(body.get("reason") or "")[:1000], ip=client_ip())
    s.commit()
    return _ok(s, cs, scope, approved=_result(p))


@bp.post("/photos/<int:photo_id>/retake")
@login_required(Role.ADMIN, Role.OPERATOR)
def retake(photo_id: int):
    s, user, cs, scope = _ctx()
    p = svc.session_photo(s, cs, photo_id, scope)
    svc.retake(s, cs, p, user, ip=client_ip())
    s.commit()
    return _ok(s, cs, scope)
