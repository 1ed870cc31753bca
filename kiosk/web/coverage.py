"""Coverage dashboard per term and unit, the term's review window, and the exports that
go with chasing students: who is missing a photo (XLSX) and the confirmation list."""
from __future__ import annotations

import datetime as dt
import io

from flask import (Blueprint, abort, current_app, flash, redirect, render_template, request, send_file,
                   url_for)
from sqlalchemy import select

from .. import db, i18n, jobs
from ..i18n import _
from ..models import OrgUnit, Role, Student, Term
from ..services import audit, confirmlist, coverage as cov, terms
from ..store import StoreError
from .auth import client_ip, current_user, login_required, scope_unit_ids

bp = Blueprint("coverage", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

i18n.add_translations({
    "覆盖情况": "Coverage", "已打包上报": "In a batch", "学生已确认": "Confirmed by student",
    "有误待处理": "Reported wrong (open)", "按学习中心": "By learning centre", "范围": "Scope",
    "全部单位": "All units", "审核窗口与截止日期": "Review window and deadline", "开始": "Start", "结束": "End",
    "核对截止": "Confirmation deadline", "保存": "Save", "已保存审核窗口": "Review window saved",
    "审核尚未开始，还有 {n} 天": "Review starts in {n} days", "审核已结束": "The review window has closed",
    "还剩 {n} 天": "{n} days left", "日期格式不正确": "Invalid date",
    "开始日期不能晚于结束日期": "The start cannot be after the end",
    "下载": "Download", "缺照片学生名单（XLSX）": "Students without an approved photo (XLSX)",
    "核对名单": "Confirmation list", "班级（可选）": "Class (optional)", "含照片缩略图": "With thumbnails",
    "生成": "Make", "上传批次": "Upload batches", "未设置": "not set",
    "已撤销 {n} 人（不计入应到人数）": "{n} withdrawn (not counted as expected)",
    "审核窗口（按学校规程：1月毕业审核 2月15日–6月15日，7月毕业 8月1日–11月30日）":
        "Review window (per the procedure: January graduates 15 Feb–15 Jun, July graduates 1 Aug–30 Nov)",
})


def _term_or_404(code: str) -> Term:
    t = terms.get_term(db.session(), code)
    if t is None:
        abort(404)
    return t


def _units_for(user) -> list[OrgUnit]:
    s = db.session()
    allowed = scope_unit_ids(user)
    units = s.scalars(select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.name)).all()
    units = [u for u in units if allowed is None or u.id in allowed]
    branches = [u for u in units if u.kind == "branch"]
    out: list[OrgUnit] = []
    for b in branches:          # branch, then its centres
        out.append(b)
        out.extend(u for u in units if u.parent_id == b.id)
    out.extend(u for u in units if u not in out)
    return out


def _chosen_unit(user) -> tuple[OrgUnit | None, set[int] | None]:
    """The unit filter from ``?unit=`` (an id), limited to the viewer's scope."""
    s = db.session()
    allowed = scope_unit_ids(user)
    unit = None
    raw = request.values.get("unit", "")
    if raw.isdigit():
        unit = s.get(OrgUnit, int(raw))
        if unit is not None and allowed is not None and unit.id not in allowed:
            abort(403)
    return unit, cov.scope_ids(s, unit, allowed)


def window_note(term: Term, today: dt.date | None = None) -> str:
    today = today or dt.date.today()
    if term.review_start and today < term.review_start:
        return _("审核尚未开始，还有 {n} 天", n=(term.review_start - today).days)
    left = terms.days_left(term, today)
    if left is None:
        return ""
    return _("审核已结束") if left < 0 else _("还剩 {n} 天", n=left)


@bp.route("/<code>")
@login_required(Role.ADMIN, Role.OPERATOR)
def index(code):
    s = db.session()
    user = current_user()
    term = _term_or_404(code)
    unit, ids = _chosen_unit(user)
    data = cov.coverage(s, term, ids)
    classes = sorted({c for (c,) in s.execute(select(Student.class_name).where(
        Student.term_id == term.id, Student.class_name.is_not(None), Student.withdrawn_at.is_(None)).distinct())})
    return render_template("coverage/index.html", term=term, unit=unit, units=_units_for(user), data=data,
                           metrics=cov.METRICS, days_left=terms.days_left(term), window_note=window_note(term),
                           classes=classes, can_edit=user.role == Role.ADMIN.value)


def _parse_date(raw: str | None) -> dt.date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    return dt.date.fromisoformat(raw)


@bp.route("/<code>/window", methods=["POST"])
@login_required(Role.ADMIN)
def window(code):
    s = db.session()
    term = _term_or_404(code)
    try:
        start, end = _parse_date(request.form.get("review_start")), _parse_date(request.form.get("review_end"))
        deadline = _parse_date(request.form.get("confirm_deadline"))
    except ValueError:
        flash(_("日期格式不正确"), "error")
        return redirect(url_for("coverage.index", code=code))
    if start and end and start > end:
        flash(_("开始日期不能晚于结束日期"), "error")
        return redirect(url_for("coverage.index", code=code))
    before = {"review_start": term.review_start, "review_end": term.review_end,
              "confirm_deadline": term.confirm_deadline}
    term.review_start, term.review_end, term.confirm_deadline = start, end, deadline
    s.flush()
    audit.record(s, "term.window", actor=current_user(), object_type="term", object_id=term.code, term_id=term.id,
                 ip=client_ip(), before=before,
                 after={"review_start": start, "review_end": end, "confirm_deadline": deadline})
    s.commit()
    flash(_("已保存审核窗口"), "success")
    return redirect(url_for("coverage.index", code=code))


@bp.route("/<code>/missing.xlsx")
@login_required(Role.ADMIN, Role.OPERATOR)
def missing(code):
    s = db.session()
    user = current_user()
    term = _term_or_404(code)
    unit, ids = _chosen_unit(user)
    data, n = cov.missing_xlsx(s, term, ids)
    audit.record(s, "coverage.export_missing", actor=user, object_type="term", object_id=term.code, term_id=term.id,
                 ip=client_ip(), unit=unit.name if unit else None, students=n)
    s.commit()
    name = f"缺照片学生_{term.code}{'_' + unit.name if unit else ''}.xlsx"
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=name)


@bp.route("/<code>/confirm-list")
@login_required(Role.ADMIN, Role.OPERATOR)
def confirm_list(code):
    s = db.session()
    user = current_user()
    term = _term_or_404(code)
    unit, ids = _chosen_unit(user)
    if unit is None and ids is not None:          # an operator without a unit filter: their own unit
        unit = s.get(OrgUnit, user.org_unit_id) if user.org_unit_id else None
        if unit is None:
            abort(403)
    fmt = request.args.get("format", "pdf")
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url
    params = {"term_id": term.id, "fmt": fmt, "base_url": base, "school": current_app.config.get("SCHOOL_NAME") or "",
              "unit_id": unit.id if unit is not None else None,
              "class_name": (request.args.get("class") or "").strip() or None,
              "thumbnails": bool(request.args.get("thumbs")), "user_id": user.id, "ip": client_ip()}
    store = current_app.extensions["kiosk_store"]
    try:   # through the job API: built here (in-process) or on a Celery worker, handed over by hash
        row = jobs.call_job(current_app._get_current_object(), s, "confirm_list", params, actor=user)
        if row.status == "failed":
            raise jobs.JobsError(row.error_code or "job", row.error or "")
        data = store.get_verified(row.result["sha256"])
    except (jobs.JobsError, StoreError) as e:
        s.rollback()
        flash(getattr(e, "message", None) or str(e), "error")
        return redirect(url_for("coverage.index", code=code))
    store.path_for(row.result["sha256"]).unlink(missing_ok=True)       # a download, not a photo
    name = row.result["name"]
    mime = "application/pdf" if fmt == "pdf" else XLSX
    return send_file(io.BytesIO(data), mimetype=mime, as_attachment=True, download_name=name)


def confirm_list_job(app, s, params: dict, progress) -> dict:
    """The ``confirm_list`` job (:data:`kiosk.jobs.JOB_KINDS`): the list's bytes go into
    the photo store; the page that asked reads them by hash and removes them."""
    from ..models import User  # noqa: PLC0415

    store = app.extensions["kiosk_store"]
    try:
        data, name = confirmlist.build(s, store, s.get(Term, params["term_id"]), params["fmt"],
                                       base_url=params["base_url"], school=params["school"],
                                       unit=s.get(OrgUnit, params["unit_id"]) if params["unit_id"] else None,
                                       class_name=params["class_name"], thumbnails=params["thumbnails"],
                                       actor=s.get(User, params["user_id"]), ip=params["ip"])
    except confirmlist.ConfirmListError as e:
        raise jobs.JobFailed(e.code, e.message) from None
    return {"sha256": store.put(data), "name": name, "size": len(data)}
