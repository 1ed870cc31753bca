"""Imaging units (图像采集单位): upload an archive of photos, follow its check, read the report.

Imaging-unit users see and submit jobs of their own unit; admins see every job, may
submit for any unit, and decide the photos that wait for a person (``pending``: would
replace an approved photo; ``review``: QC warned or the archive was ambiguous).

The upload is saved under ``<instance>/intake/`` and processed through the job API
(:func:`kiosk.jobs.start_intake`: the in-process worker pool or Celery workers, as
configured); the job page polls
``/unit/jobs/<id>/status`` (JSON) for its progress, which lives in the job's database
row — a reload, or another browser, shows the same.  The saved upload is deleted when
the job ends (every photo's bytes are in the photo store by then).
"""
from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from flask import (Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request,
                   url_for)
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import db, i18n, jobs
from ..i18n import _
from ..idcard import mask
from ..models import ImagingUnit, IntakeJob, Photo, PhotoStatus, ReviewItem, Role, Student, Term, utcnow
from ..services import audit, intake, intake_report, orgs, photos
from ..services.intake_match import ManifestError, read_manifest
from ..store import StoreError
from .auth import client_ip, current_user, login_required

bp = Blueprint("unit", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UPLOAD_MAX_AGE_S = 24 * 3600
PAGE = 200

i18n.add_translations({
    "照片批量导入": "Bulk photo intake", "上传照片压缩包": "Upload a photo archive",
    "照片压缩包（ZIP）": "Photo archive (ZIP)", "文件名对应方式": "File names are", "自动识别": "Detected automatically",
    "学号": "Student no.", "身份证号": "ID number", "对应清单（可选，CSV/XLSX）": "Manifest (optional, CSV/XLSX)",
    "图像采集单位名称": "Imaging unit name", "上传并检查": "Upload and check", "导入记录": "Intake jobs",
    "提交时间": "Submitted", "来源": "Source", "文件数": "Files", "进度": "Progress", "结果": "Outcome",
    "排队中": "Queued", "读取文件": "Reading files", "检查照片": "Checking photos",
    "人脸特征与查重": "Face features and duplicate checks", "生成报告": "Writing the report",
    "完成": "Done", "失败": "Failed", "进行中": "Running", "导入任务": "Intake job",
    "逐个文件结果": "Result per file", "文件名": "File name", "原因": "Reason", "匹配方式": "Matched by",
    "下载报告（XLSX）": "Report (XLSX)", "下载报告（CSV）": "Report (CSV)", "缺照片学生（CSV）": "Missing (CSV)",
    "仍缺合格照片的学生": "Students still without an approved photo", "共 {n} 人": "{n} students",
    "已通过": "Approved", "待复核": "In review", "未通过": "Rejected", "待确认替换": "Pending replacement",
    "未匹配": "Unmatched", "已跳过": "Skipped", "出错": "Error",
    "请选择要上传的压缩包": "Choose an archive to upload", "请选择毕业批次": "Choose a graduation term",
    "找不到毕业批次": "No such graduation term", "账号未关联图像采集单位，请联系管理员":
        "This account is not linked to an imaging unit; ask an administrator",
    "请填写图像采集单位名称": "Enter the imaging unit's name", "已上传，正在排队检查": "Uploaded; queued for checking",
    "上传的文件为空": "The uploaded file is empty", "清单": "Manifest",
    "待决定的照片": "Photos awaiting a decision", "新照片": "New photo", "当前已通过的照片": "Currently approved",
    "批准": "Approve", "不通过": "Reject", "理由（不通过时必填）": "Reason (required to reject)",
    "已批准": "Approved", "已标记为不通过": "Rejected", "请填写不通过的理由": "Give a reason for rejecting",
    "没有待决定的照片": "No photos await a decision", "任务中断": "Interrupted",
    "只显示前 {n} 行，完整结果请下载报告": "Showing the first {n} rows; download the report for all",
    "正在处理…": "Processing…", "处理完成": "Finished", "处理失败": "Failed",
    "支持 ZIP 压缩包；照片以学号或身份证号命名（如 2061001000001.jpg、张三_2061001000001.jpg），或附对应清单（文件名、学号、采集码）。":
        "ZIP archives; photos named by student number or ID number (e.g. 2061001000001.jpg, 张三_2061001000001.jpg), or with a manifest (file name, student no., capture code).",
    "全部": "All", "批次": "Term", "采集单位": "Unit",
    # photos.PhotoError messages a decision can meet (the fixed ones)
    "该学生已从本期名单撤销，不能批准其照片；如有误请先由管理员恢复该学生":
        "The student was withdrawn from this term's roster: their photo cannot be approved; "
        "restore the student first if that was a mistake",
    "原始照片无法生成合格的证件照，不能批准": "No spec photo could be made from this file: it cannot be approved",
    "管理员批准未通过的照片须填写理由": "Give a reason to approve a photo that failed the checks",
})

_ID_TOKEN = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")


def masked_name(name: str) -> str:
    """A file name with any 身份证号 in it masked (the UI never shows a whole one)."""
    return _ID_TOKEN.sub(lambda m: mask(m.group(1)), name or "")


def _upload_dir() -> Path:
    p = Path(current_app.instance_path) / "intake"
    p.mkdir(parents=True, exist_ok=True)
    return p


def _sweep_uploads(folder: Path) -> None:
    """Delete uploads left behind by a process that died mid-job (older than a day)."""
    now = time.time()
    for f in folder.glob("upload-*"):
        try:
            if now - f.stat().st_mtime > UPLOAD_MAX_AGE_S:
                f.unlink()
        except OSError:
            pass


def _visible(stmt, user):
    if user.role == Role.ADMIN.value:
        return stmt
    return stmt.where(IntakeJob.imaging_unit_id == (user.imaging_unit_id or -1))


def _job_or_404(job_id: int) -> IntakeJob:
    s = db.session()
    job = s.scalar(_visible(select(IntakeJob).where(IntakeJob.id == job_id), current_user()))
    if job is None:
        abort(404)
    _check_stale(job)
    return job


def _check_stale(job: IntakeJob) -> None:
    """A job the runner no longer has and whose heartbeat stopped is reported interrupted."""
    if jobs.is_active(current_app._get_current_object(), job.id):
        return
    stale = intake.is_stale(job) or (job.status == "queued" and utcnow() - job.created_at > intake.STALE_AFTER)
    if stale:
        s = db.session()
        intake.mark_interrupted(s, job)
        s.commit()


# ---------------------------------------------------------------------- pages
@bp.route("/")
@login_required(Role.IMAGING_UNIT, Role.ADMIN)
def index():
    s = db.session()
    user = current_user()
    rows = s.scalars(_visible(select(IntakeJob), user).options(selectinload(IntakeJob.term),
                                                               selectinload(IntakeJob.imaging_unit))
                     .order_by(IntakeJob.id.desc()).limit(50)).all()
    for j in rows:
        if j.status in ("running", "queued"):
            _check_stale(j)
    term_list = s.scalars(select(Term).order_by(Term.code.desc())).all()
    unit = s.get(ImagingUnit, user.imaging_unit_id) if user.imaging_unit_id else None
    n_decide = 0
    if user.role == Role.ADMIN.value:
        n_decide = s.scalar(select(func.count()).select_from(Photo).where(
            Photo.source == "intake", Photo.status.in_([PhotoStatus.PENDING.value, PhotoStatus.REVIEW.value]))) or 0
    return render_template("unit/index.html", rows=rows, terms=term_list, unit=unit, n_decide=n_decide,
                           outcome_zh=intake.OUTCOME_ZH, phase_zh=intake.PHASE_ZH)


@bp.route("/intake", methods=["POST"])
@login_required(Role.IMAGING_UNIT, Role.ADMIN)
def upload():
    s = db.session()
    user = current_user()
    f = request.files.get("archive")
    if f is None or not f.filename:
        return _answer(None, _("请选择要上传的压缩包"), 400)
    term = s.get(Term, request.form.get("term", type=int) or -1)
    if term is None:
        return _answer(None, _("请选择毕业批次"), 400)
    key = request.form.get("key", "auto")
    if key not in ("auto", "xh", "sfzh"):
        key = "auto"
    if user.role == Role.ADMIN.value:
        name = (request.form.get("unit_name") or "").strip()
        if not name:
            return _answer(None, _("请填写图像采集单位名称"), 400)
        unit = orgs.ensure_imaging_unit(s, name[:100])
    else:
        unit = s.get(ImagingUnit, user.imaging_unit_id) if user.imaging_unit_id else None
        if unit is None:
            return _answer(None, _("账号未关联图像采集单位，请联系管理员"), 403)
    manifest = None
    mf = request.files.get("manifest")
    if mf is not None and mf.filename:
        try:
            manifest = read_manifest(mf.read(), Path(mf.filename).name)
        except ManifestError as e:
            s.rollback()
            return _answer(None, e.message_zh, 400)
    folder = _upload_dir()
    _sweep_uploads(folder)
    path = folder / f"upload-{uuid.uuid4().hex}.zip"
    f.save(path)
    if path.stat().st_size == 0:
        path.unlink(missing_ok=True)
        s.rollback()
        return _answer(None, _("上传的文件为空"), 400)
    try:
        workers = jobs.worker_count(current_app.config.get("JOBS_WORKERS"))
        jobs.backend(current_app)
    except jobs.JobsError as e:
        path.unlink(missing_ok=True)
        s.rollback()
        return _answer(None, e.message, 500)
    job = intake.create_job(s, term, unit, source_name=Path(f.filename).name or "upload.zip", actor=user, key=key,
                            source_sha256=intake.sha256_file(path),
                            options={"manifest": manifest.name if manifest else None, "workers": workers,
                                     "via": "web", "ip": client_ip()})
    audit.record(s, "intake.upload", actor=user, object_type="intake_job", object_id=job.id, term_id=term.id,
                 ip=client_ip(), file=job.source_name, size=path.stat().st_size, sha256=job.source_sha256)
    s.commit()
    app = current_app._get_current_object()
    jobs.start_intake(app, job.id, path, manifest, workers=workers, delete_source=True)
    return _answer(job, None, 202)


def _answer(job: IntakeJob | None, error: str | None, status: int):
    from . import api_error, wants_json  # noqa: PLC0415

    if wants_json():
        if error:
            return api_error("intake", error, status)
        return jsonify({"ok": True, "job": job.id, "status_url": url_for("unit.status", job_id=job.id),
                        "page_url": url_for("unit.job_page", job_id=job.id)}), status
    if error:
        flash(error, "error")
        return redirect(url_for("unit.index"))
    flash(_("已上传，正在排队检查"), "success")
    return redirect(url_for("unit.job_page", job_id=job.id))


def _status_dict(job: IntakeJob) -> dict:
    if job.status == "done":
        pct = 100
    elif job.phase == "post" and job.post_total:
        pct = 90 + int(10 * job.post_done / job.post_total)
    else:
        pct = int(90 * job.processed / job.total) if job.total else 0
    return {"ok": True, "id": job.id, "status": job.status, "phase": job.phase,
            "phase_zh": _(intake.PHASE_ZH.get(job.phase, job.phase)) if job.phase else "",
            "total": job.total, "processed": job.processed, "post_total": job.post_total,
            "post_done": job.post_done, "percent": pct, "outcomes": intake.outcome_counts(job),
            "error": job.error, "done": job.status in ("done", "failed")}


@bp.route("/jobs/<int:job_id>")
@login_required(Role.IMAGING_UNIT, Role.ADMIN)
def job_page(job_id: int):
    s = db.session()
    job = _job_or_404(job_id)
    rows, missing = [], []
    if job.status in ("done", "failed"):
        rows = intake_report.file_rows(s, job)
        missing = intake.missing_students(s, job.term)
    return render_template("unit/job.html", job=job, rows=rows[:PAGE], n_rows=len(rows), page=PAGE,
                           missing=missing[:PAGE], n_missing=len(missing), st=_status_dict(job),
                           outcome_zh=intake.OUTCOME_ZH, key_zh=intake_report.KEY_KIND_ZH,
                           masked_name=masked_name, reason_text=intake_report.reason_text)


@bp.route("/jobs/<int:job_id>/status")
@login_required(Role.IMAGING_UNIT, Role.ADMIN)
def status(job_id: int):
    return jsonify(_status_dict(_job_or_404(job_id)))


@bp.route("/jobs/<int:job_id>/report.<fmt>")
@login_required(Role.IMAGING_UNIT, Role.ADMIN)
def report(job_id: int, fmt: str):
    s = db.session()
    job = _job_or_404(job_id)
    base = f"intake-{job.id}-{job.term.code}"
    if fmt == "xlsx":
        data, mime, name = intake_report.xlsx_bytes(s, job), XLSX, f"{base}.xlsx"
    elif fmt == "csv":
        data, mime, name = intake_report.csv_bytes(s, job), "text/csv", f"{base}.csv"
    elif fmt == "missing.csv":
        data, mime, name = intake_report.missing_csv_bytes(s, job), "text/csv", f"{base}-missing.csv"
    else:
        abort(404)
    audit.record(s, "intake.report", actor=current_user(), object_type="intake_job", object_id=job.id,
                 term_id=job.term_id, ip=client_ip(), format=fmt)
    s.commit()
    resp = Response(data, mimetype=mime)
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


# ---------------------------------------------------------------------- photos and decisions
@bp.route("/photos/<int:photo_id>.jpg")
@login_required(Role.IMAGING_UNIT, Role.ADMIN)
def photo_file(photo_id: int):
    s = db.session()
    ph = s.get(Photo, photo_id)
    user = current_user()
    if ph is None or ph.sha256 is None:
        abort(404)
    if user.role != Role.ADMIN.value:
        job = s.get(IntakeJob, ph.intake_job_id) if ph.intake_job_id else None
        if job is None or job.imaging_unit_id != user.imaging_unit_id:
            abort(404)
    try:
        data = current_app.extensions["kiosk_store"].get(ph.sha256)
    except StoreError:
        abort(404)
    resp = Response(data, mimetype="image/jpeg")
    resp.headers["Cache-Control"] = "no-store, private"
    return resp


@bp.route("/decisions")
@login_required(Role.ADMIN)
def decisions():
    s = db.session()
    stmt = (select(Photo).where(Photo.source == "intake",
                                Photo.status.in_([PhotoStatus.PENDING.value, PhotoStatus.REVIEW.value]))
            .options(selectinload(Photo.student).selectinload(Student.term), selectinload(Photo.reports))
            .order_by(Photo.id).limit(100))
    rows = s.scalars(stmt).all()
    items = {}
    if rows:
        for it in s.scalars(select(ReviewItem).where(ReviewItem.photo_id.in_([p.id for p in rows]),
                                                     ReviewItem.status == "open")):
            items.setdefault(it.photo_id, []).append(it)
    current = {p.student_id: photos.approved_photo(s, p.student_id) for p in rows}
    return render_template("unit/decisions.html", rows=rows, items=items, current=current, mask=mask,
                           masked_name=masked_name)


@bp.route("/decisions/<int:photo_id>", methods=["POST"])
@login_required(Role.ADMIN)
def decide(photo_id: int):
    s = db.session()
    user = current_user()
    ph = s.get(Photo, photo_id)
    if ph is None or ph.source != "intake":
        abort(404)
    action = request.form.get("action")
    reason = (request.form.get("reason") or "").strip()[:500]
    try:
        if action == "approve":
            # The approval hook computes the face data the duplicate search needs.
            photos.approve(s, ph, user, ip=client_ip(), override_reason=reason or None)
            resolution = "批准" + (f"：{reason}" if reason else "")
        elif action == "reject":
            if not reason:
                flash(_("请填写不通过的理由"), "error")
                return redirect(url_for("unit.decisions"))
            photos.reject(s, ph, user, reason=reason, action="photo.reject", ip=client_ip())
            resolution = f"不通过：{reason}"
        else:
            abort(400)
    except photos.PhotoError as e:
        s.rollback()
        flash(_(e.message), "error")
        return redirect(url_for("unit.decisions"))
    for it in s.scalars(select(ReviewItem).where(ReviewItem.photo_id == ph.id, ReviewItem.status == "open")):
        it.status, it.resolution, it.resolved_by_id, it.resolved_at = "resolved", resolution, user.id, utcnow()
        audit.record(s, "review.resolve", actor=user, object_type="review_item", object_id=it.id,
                     term_id=it.term_id, ip=client_ip(), kind=it.kind, xh=ph.student.xh, resolution=resolution)
    s.commit()
    flash(_("已批准") if action == "approve" else _("已标记为不通过"), "success")
    return redirect(url_for("unit.decisions"))

