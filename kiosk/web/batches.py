"""Admin: build upload batches (in the background, with progress), list and download them.

A build is a background job (:func:`kiosk.jobs.submit_job`, kind ``batch_build``): the
in-process runner or a Celery worker runs :func:`build_job` with its own session, and its
state, progress and result live in the ``background_jobs`` row, so any web process can
show them.  A batch is recorded when, and only when, its ZIP is complete, so a restart
mid-build loses nothing but the attempt (a job delivered again runs again).  One build at
a time (refused while another is queued or running); the database's unique
(kind, photo_id) guards against two anyway.
"""
from __future__ import annotations

from pathlib import Path

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request,
                   send_file, url_for)
from sqlalchemy import select

from .. import db, i18n, jobs
from ..i18n import _
from ..models import Batch, OrgUnit, Role, Term, User
from ..services import audit, batches, terms
from .auth import client_ip, current_user, login_required

bp = Blueprint("batches", __name__)

i18n.add_translations({
    "上传批次": "Upload batches", "生成新批次": "Build a new batch", "交付对象": "For",
    "图像采集单位（需采集码）": "Imaging unit (needs 采集码)", "学校教务系统": "School records system",
    "图像采集单位": "Imaging unit",
    "文件命名": "File names", "分组文件夹": "Group folders", "生成批次": "Build batch",
    "照片数": "Photos", "未纳入": "Held back", "生成人": "By", "生成时间": "Built", "下载": "Download",
    "正在生成批次…": "Building the batch…", "批次已生成": "Batch built", "生成失败": "Build failed",
    "已有批次正在生成，请稍后再试": "Another batch is being built; try again shortly",
    "未纳入本批次的学生": "Students held back", "找不到该分部/学习中心": "No such branch or learning centre", "原因": "Reason", "文件": "File",
})


def build_job(app, s, params: dict, progress) -> dict:
    """The ``batch_build`` job (:data:`kiosk.jobs.JOB_KINDS`): build and record the batch."""
    term = s.get(Term, params["term_id"])
    unit = s.get(OrgUnit, params["unit_id"]) if params["unit_id"] else None
    actor = s.get(User, params["user_id"])
    try:
        b, plan = batches.build_batch(
            s, app.extensions["kiosk_store"], term, out_dir=Path(app.config["EXPORT_DIR"]) / "batches",
            kind=params["kind"], unit=unit, naming=params["naming"], grouping=params["grouping"],
            actor=actor, school=app.config.get("SCHOOL_NAME") or "", ip=params["ip"], commit=s.commit,
            on_progress=lambda done, total, name: progress(done, total))
    except batches.BatchError as e:
        raise jobs.JobFailed(e.code, e.message, {"term": params.get("term"), "excluded": e.excluded}) from None
    return {"term": params.get("term"), "batch_id": b.id, "photos": b.photo_count, "excluded": plan.excluded}


def _term_or_404(code: str) -> Term:
    t = terms.get_term(db.session(), code)
    if t is None:
        abort(404)
    return t


@bp.route("/<code>")
@login_required(Role.ADMIN)
def index(code):
    s = db.session()
    term = _term_or_404(code)
    rows = batches.list_batches(s, term)
    units = s.scalars(select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.name)).all()
    job = jobs.job_status(s, request.args["job"]) if request.args.get("job") else None
    return render_template("batches/index.html", term=term, rows=rows, units=units, job=job,
                           job_id=request.args.get("job", ""), kinds=batches.KINDS,
                           kind_labels={"unit": "图像采集单位", "school": "学校教务系统"},
                           groups=[("分部", "branch"), ("学习中心", "centre"), ("层次", "level"), ("专业", "major")])


@bp.route("/<code>/build", methods=["POST"])
@login_required(Role.ADMIN)
def build(code):
    term = _term_or_404(code)
    f = request.form
    unit_id = int(f["unit"]) if f.get("unit", "").isdigit() else None
    if unit_id is not None and db.session().get(OrgUnit, unit_id) is None:
        return _answer(code, None, _("找不到该分部/学习中心"), 400)
    params = {"term_id": term.id, "unit_id": unit_id, "kind": f.get("kind", "unit"), "naming": f.get("naming", "xh"),
              "grouping": ",".join(f.getlist("group")), "user_id": current_user().id, "ip": client_ip()}
    try:   # reject bad options now, with the same messages the build would give
        batches.validate_options(params["kind"], params["naming"], params["grouping"])
    except batches.BatchError as e:
        return _answer(code, None, e.message, 400)
    s = db.session()
    if jobs.active_jobs(s, "batch_build"):
        return _answer(code, None, _("已有批次正在生成，请稍后再试"), 409)
    params["term"] = term.code
    try:
        row = jobs.submit_job(current_app._get_current_object(), s, "batch_build", params, actor=current_user())
    except jobs.JobsError as e:
        return _answer(code, None, e.message, 503)
    job_id = row.key
    return _answer(code, job_id, None, 202)


def _answer(code, job_id, error, status):
    if request.accept_mimetypes.best == "application/json":
        if error:
            return jsonify({"ok": False, "error": {"code": "build", "message": error}}), status
        return jsonify({"ok": True, "job": job_id, "status_url": url_for("batches.job", job_id=job_id)}), status
    if error:
        flash(error, "error")
        return redirect(url_for("batches.index", code=code))
    return redirect(url_for("batches.index", code=code, job=job_id))


@bp.route("/jobs/<job_id>")
@login_required(Role.ADMIN)
def job(job_id):
    j = jobs.job_status(db.session(), job_id)
    if j is None:
        return jsonify({"ok": False, "error": {"code": "not_found", "message": "没有这个任务"}}), 404
    return jsonify({"ok": True, **j})


@bp.route("/download/<int:batch_id>")
@login_required(Role.ADMIN)
def download(batch_id):
    s = db.session()
    b = s.get(Batch, batch_id)
    if b is None:
        abort(404)
    try:
        path = batches.zip_file(s, current_app.extensions["kiosk_store"], b, current_app.config["EXPORT_DIR"])
    except batches.BatchError as e:
        s.rollback()
        flash(e.message, "error")
        return redirect(url_for("batches.index", code=b.term.code))
    audit.record(s, "batch.download", actor=current_user(), object_type="batch", object_id=b.id, term_id=b.term_id,
                 ip=client_ip(), zip=b.zip_name, zip_sha256=b.zip_sha256)
    s.commit()
    return send_file(path, mimetype="application/zip", as_attachment=True, download_name=b.zip_name)
