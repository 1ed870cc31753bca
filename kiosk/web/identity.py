"""Identity and duplicate review (``/identity``): side by side, decide, audit.

* ``/identity/``                      open identity / duplicate items (admins: all; operators:
                                      students of their 分部/学习中心)
* ``/identity/items/<id>``            the two photos side by side with the distance and the
                                      decision buttons; ``POST …/decide`` records a decision
* ``/identity/photos/<id>``           a photo's bytes, ``/identity/students/<id>/reference`` the
                                      enrolment photo's — only for a logged-in user who may see
                                      that student (no public or guessable URL serves photos)
* ``/identity/references/<term>``     admins upload a ZIP of enrolment photos (small sets; the
                                      CLI ``kiosk references import`` is for whole schools)

An operator may open an item only when every student in it belongs to their scope; a
duplicate pair across two 学习中心 is for an admin.
"""
from __future__ import annotations

import io
import os
import tempfile

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from .. import db, i18n, jobs
from ..i18n import _
from ..idcard import mask
from ..models import Photo, ReviewItem, Role, Student, Term
from ..services import duplicates, identity, references
from ..store import StoreError
from . import review
from .auth import client_ip, current_user, login_required, scope_unit_ids

bp = Blueprint("identity", __name__)
KINDS = (identity.IDENTITY,) + duplicates.DUPLICATE_KINDS
KIND_ZH = {"identity": "与入学照片不符", "duplicate_face": "疑似同一人两个学号", "duplicate_file": "重复照片"}
STATUS_ZH = review.STATUS_ZH

i18n.add_translations({
    "这张照片还与另外 {n} 张已通过照片的人脸相似（只列出最接近的几对）：可能是同一张照片被用于多名学生，请整批核查。":
        "This photo's face also matches {n} more approved photos (only the closest pairs are listed): the same "
        "photo may have been used for several students; check the whole set.",
    "身份核对": "Identity review",
    "身份核对与重复照片": "Identity and duplicates",
    "与入学照片不符": "Differs from enrolment photo",
    "疑似同一人两个学号": "Same face under two numbers",
    "重复照片": "Duplicate photo",
    "待处理": "Open", "已处理": "Resolved", "全部类型": "All kinds",
    "类型": "Kind", "距离": "Distance", "相关学生": "Other student", "创建时间": "Created",
    "查看": "Open", "其他学习中心的学生": "A student of another centre", "共 {n} 条": "{n} items",
    "仅管理员可处理": "Admins only",
    "参考照片（入学）": "Reference (enrolment) photo", "本次照片": "New photo",
    "本学生": "This student", "另一学生": "Other student",
    "没有参考照片": "No reference photo", "照片文件缺失": "Photo file missing",
    "人脸距离": "Face distance", "照片指纹差异": "Photo fingerprint difference",
    "文件完全相同": "Identical files", "处理": "Decision", "处理说明": "Note",
    "处理记录": "History", "处理结果": "Resolution", "该事项已处理": "This item is already resolved",
    "已记录处理结果": "Decision recorded", "请填写处理说明": "Please write a note",
    "返回列表": "Back to the list", "照片状态": "Photo status", "质检结论": "QC verdict",
    "导入参考照片": "Import reference photos", "上传并导入": "Upload and import",
    "参考照片": "Reference photos", "有参考照片": "With a reference photo",
    "ZIP 压缩包，文件名为学号或身份证号（如 2061001000123.jpg）。较大的学校请用命令行 kiosk references import。":
        "A ZIP archive; file names are student numbers or ID numbers (e.g. 2061001000123.jpg). "
        "For a whole school use the command line: kiosk references import.",
    "文件名按": "File names are", "自动识别": "detected automatically",
    "请选择 ZIP 文件": "Choose a ZIP file", "导入结果": "Import result",
    "替换": "Replaced", "未匹配": "Unmatched", "跳过": "Skipped", "结果": "Outcome", "说明": "Message",
    "是本人：保留照片，关闭此项": "Same person: keep the photo, close this item",
    "不是本人：作废这张照片（需重拍）": "Not the same person: void this photo (retake)",
    "暂缓：待进一步核实": "On hold: to be checked further",
    "确认是本人（管理员，须填写理由）：保留照片": "Confirm it is the student (admin, reason required): keep the photo",
    "不是同一人（或两个学号均属实）：两张照片均保留，解除暂缓":
        "Not the same person (or both numbers are genuine): keep both photos, release the hold",
    "作废本学生的照片（需重拍）": "Void this student's photo (retake)",
    "作废另一学生的照片（需重拍）": "Void the other student's photo (retake)",
    "暂缓：待进一步核实（两人均不进入上传批次）": "On hold: to be checked further (neither goes into a batch)",
    "不支持的处理方式": "This decision is not offered here",
    "与参考照片明显不符，只有管理员可以确认是本人": "A clear mismatch: only an admin can confirm it is the student",
    "≤ {p} 视为本人；{p}–{w} 需人工对照；> {w} 不像同一人": "≤ {p} same person; {p}–{w} compare by eye; > {w} not the same person",
    "≤ {t} 视为同一人": "≤ {t} counts as the same person",
    "≤ {t} 位视为同一张照片": "≤ {t} bits counts as the same photograph",
    "位": "bits", "暂缓中": "On hold", "照片已被取代": "The photo was replaced",
    "照片批准时自动比对": "Found when a photo was approved", "全批次扫描": "Found by a term scan",
    "两人在事项处理前均不进入上传批次。": "Neither student goes into an upload batch until this is decided.",
})


# ---------------------------------------------------------------------------- scope helpers
def _visible(user, student: Student | None) -> bool:
    if student is None:
        return True
    ids = scope_unit_ids(user)
    return ids is None or student.centre_id in ids


def _item_or_404(item_id: int) -> ReviewItem:
    item = db.session().get(ReviewItem, item_id)
    if item is None or item.kind not in KINDS:
        abort(404)
    user = current_user()
    if not (_visible(user, item.student) and _visible(user, item.other_student)):
        abort(403)
    return item


# ---------------------------------------------------------------------------- list
@bp.route("/")
@login_required(Role.ADMIN, Role.OPERATOR)
def index():
    user = current_user()
    status, kind, term_code, page = review.list_args()
    listing = review.items_page(user, [kind] if kind in KINDS else KINDS, status=status, term_code=term_code,
                                page=page)
    return render_template("identity/index.html", **listing, status=status, kind=kind, term_code=term_code,
                           kinds=KIND_ZH, statuses=STATUS_ZH, mask=mask, visible=lambda st: _visible(user, st))


# ---------------------------------------------------------------------------- one item
def _limits():
    import qc  # noqa: PLC0415

    t = qc.load_profile(current_app.config.get("QC_PROFILE") or "chsi_xueli_v1").thresholds("identity_match")
    return {"pass_max": t.pass_max, "warn_max": t.warn_max, "face_max": duplicates.FACE_MAX,
            "phash_max": duplicates.PHASH_MAX_BITS}


@bp.route("/items/<int:item_id>")
@login_required(Role.ADMIN, Role.OPERATOR)
def item(item_id: int):
    it = _item_or_404(item_id)
    s = db.session()
    user = current_user()
    offered = identity.decisions_for(it)
    is_admin = user.role == Role.ADMIN.value
    return render_template("identity/item.html", item=it, kinds=KIND_ZH, statuses=STATUS_ZH, mask=mask,
                           limits=_limits(), decisions=[(k, v[0], v[2], v[1] and not is_admin) for k, v in offered.items()],
                           history=identity.item_history(s, it),
                           labels={**{k: v[0] for k, v in {**identity.IDENTITY_DECISIONS,
                                                           **identity.DUPLICATE_DECISIONS}.items()},
                                   "photo_replaced": "照片已被取代"})


@bp.route("/items/<int:item_id>/decide", methods=["POST"])
@login_required(Role.ADMIN, Role.OPERATOR)
def decide(item_id: int):
    it = _item_or_404(item_id)
    s = db.session()
    try:
        identity.decide(s, it, request.form.get("decision", ""), current_user(),
                        note=request.form.get("note", "")[:2000], ip=client_ip())
    except identity.DecisionError as e:
        s.rollback()
        flash(_(e.message), "error")
        return redirect(url_for("identity.item", item_id=item_id))
    s.commit()
    flash(_("已记录处理结果"), "success")
    return redirect(url_for("identity.item", item_id=item_id))


# ---------------------------------------------------------------------------- photo bytes
def _image_response(data: bytes) -> Response:
    head = data[:12]
    if head.startswith(b"\xff\xd8"):
        mime = "image/jpeg"
    elif head.startswith(b"\x89PNG"):
        mime = "image/png"
    else:
        # Anything else (TIFF, BMP, HEIC...) is shown as a JPEG copy.
        from PIL import Image  # noqa: PLC0415

        try:
            im = Image.open(io.BytesIO(data))
            im.thumbnail((1200, 1200))
            buf = io.BytesIO()
            im.convert("RGB").save(buf, "JPEG", quality=90)
            data, mime = buf.getvalue(), "image/jpeg"
        except Exception:  # noqa: BLE001 - an unreadable file is a 404, not a 500
            abort(404)
    resp = Response(data, mimetype=mime)
    resp.headers["Cache-Control"] = "private, no-store"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def _store_bytes(sha: str | None) -> bytes:
    if not sha:
        abort(404)
    try:
        return current_app.extensions["kiosk_store"].get(sha)
    except StoreError:
        abort(404)


@bp.route("/photos/<int:photo_id>")
@login_required(Role.ADMIN, Role.OPERATOR)
def photo(photo_id: int):
    p = db.session().get(Photo, photo_id)
    if p is None:
        abort(404)
    if not _visible(current_user(), p.student):
        abort(403)
    return _image_response(_store_bytes(p.sha256))


@bp.route("/students/<int:student_id>/reference")
@login_required(Role.ADMIN, Role.OPERATOR)
def reference(student_id: int):
    st = db.session().get(Student, student_id)
    if st is None:
        abort(404)
    if not _visible(current_user(), st):
        abort(403)
    return _image_response(_store_bytes(st.reference_sha256))


# ---------------------------------------------------------------------------- references upload
@bp.route("/references/<code>", methods=["GET", "POST"])
@login_required(Role.ADMIN)
def references_upload(code: str):
    s = db.session()
    term = s.scalar(select(Term).where(Term.code == code))
    if term is None:
        abort(404)
    report = None
    if request.method == "POST":
        f = request.files.get("file")
        key = request.form.get("key", "auto")
        if f is None or not f.filename:
            flash(_("请选择 ZIP 文件"), "error")
            return redirect(url_for("identity.references_upload", code=code))
        if key not in references.KEYS:
            key = "auto"
        # Through the job API: the archive goes into the (shared) photo store and whoever
        # runs the job — this process, or a Celery worker — reads it from there by hash.
        store = current_app.extensions["kiosk_store"]
        sha = store.put(f.read())
        params = {"term_id": term.id, "sha256": sha, "key": key, "user_id": current_user().id, "ip": client_ip(),
                  "source_name": f.filename}
        try:
            row = jobs.call_job(current_app._get_current_object(), s, "reference_import", params,
                                actor=current_user())
        except jobs.JobsError as e:
            flash(e.message, "error")
            return redirect(url_for("identity.references_upload", code=code))
        if row.status == "failed":
            flash(f"{row.error}（{row.error_code}）", "error")
            return redirect(url_for("identity.references_upload", code=code))
        report = references.report_from_dict(row.result["report"])
    total = s.scalar(select(func.count(Student.id)).where(Student.term_id == term.id)) or 0
    with_ref = s.scalar(select(func.count(Student.id)).where(Student.term_id == term.id,
                                                              Student.reference_encoding.is_not(None))) or 0
    return render_template("identity/references.html", term=term, report=report, total=total, with_ref=with_ref)


def references_job(app, s, params: dict, progress) -> dict:
    """The ``reference_import`` job (:data:`kiosk.jobs.JOB_KINDS`): the archive is read
    from the store by hash (verified), imported, and removed from the store again."""
    from ..models import User  # noqa: PLC0415

    store = app.extensions["kiosk_store"]
    term = s.get(Term, params["term_id"])
    data = store.get_verified(params["sha256"])
    fd, tmp = tempfile.mkstemp(prefix="refs-", suffix=".zip")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        report = references.import_references(s, store, term, tmp, key=params["key"],
                                              actor=s.get(User, params["user_id"]), ip=params.get("ip"),
                                              source_name=params.get("source_name"),
                                              progress=lambda n, name: n % 25 or progress(n, 0))
    finally:
        os.unlink(tmp)
    if report.fatal:
        s.rollback()                            # nothing written (the report says why)
    else:
        s.commit()
    store.path_for(params["sha256"]).unlink(missing_ok=True)   # the upload, not a photo
    return {"report": references.report_to_dict(report)}
