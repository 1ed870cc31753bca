"""Review queue: things a person must look at, scoped to the viewer's 分部/学习中心.

Admins see everything; operators the items of students in their unit and the units
below it.  This page lists and resolves; other areas (the station's "retake") add their
own actions for the kinds they handle.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import db, i18n
from ..i18n import _
from ..idcard import mask
from ..models import ReviewItem, Role, Student, Term
from ..services import review
from .auth import client_ip, current_user, login_required, scope_unit_ids

bp = Blueprint("review", __name__)
PAGE = 50

KIND_ZH = {"qc_warn": "质检提醒", "replace": "替换已通过照片", "self_report": "学生报告有误",
           "identity": "与入学照片不符", "duplicate_face": "疑似同一人两个学号", "duplicate_file": "重复照片",
           "multiple_files": "同一学生多张照片", "sync_conflict": "离线工位同步冲突"}
STATUS_ZH = {"open": "待处理", "resolved": "已处理"}

i18n.add_translations({
    "复核队列": "Review queue", "共 {n} 条": "{n} items", "类型": "Kind", "分类": "Category", "说明": "Comment",
    "待处理": "Open", "已处理": "Resolved", "处理结果": "Resolution", "标记为已处理": "Mark resolved",
    "处理说明": "What was done", "已标记为已处理": "Marked as resolved", "请填写处理说明": "Describe what was done",
    "该事项已处理": "This item is already resolved",
    "质检提醒": "QC warning", "替换已通过照片": "Replaces an approved photo", "学生报告有误": "Student reported wrong",
    "与入学照片不符": "Differs from enrolment photo", "疑似同一人两个学号": "Same face under two numbers",
    "重复照片": "Duplicate photo", "相关学生": "Other student", "同一学生多张照片": "Several photos of one student",
    "离线工位同步冲突": "Station node sync conflict", "两个工位都批准了该学生": "Approved at two stations",
    "学生已在名单中撤销": "Withdrawn from the roster", "服务器规则不允许该批准": "Not approvable by the server's rules",
})


def _scoped(stmt, user):
    ids = scope_unit_ids(user)
    if ids is None:
        return stmt
    return stmt.where(ReviewItem.student_id.in_(select(Student.id).where(Student.centre_id.in_(ids or {-1}))))


def list_args() -> tuple[str, str, str, int]:
    """``(status, kind, term code, page)`` of a review list's query string."""
    return (request.args.get("status", "open"), request.args.get("kind", ""), request.args.get("term", ""),
            max(1, request.args.get("page", 1, type=int)))


def items_page(user, kinds, *, status: str, term_code: str, page: int) -> dict:
    """One page of the review items of ``kinds`` (all kinds: ``None``) that ``user`` may
    see, newest first — shared by this queue and the identity queue (``/identity``).
    Returns the template arguments ``rows, total, page, pages, terms``."""
    s = db.session()
    stmt = _scoped(select(ReviewItem), user)
    if kinds is not None:
        stmt = stmt.where(ReviewItem.kind.in_(list(kinds)))
    if status in STATUS_ZH:
        stmt = stmt.where(ReviewItem.status == status)
    if term_code:
        term = s.scalar(select(Term).where(Term.code == term_code))
        stmt = stmt.where(ReviewItem.term_id == (term.id if term else -1))
    total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = s.scalars(stmt.options(selectinload(ReviewItem.student).selectinload(Student.centre),
                                  selectinload(ReviewItem.other_student).selectinload(Student.centre))
                     .order_by(ReviewItem.created_at.desc(), ReviewItem.id.desc())
                     .limit(PAGE).offset((page - 1) * PAGE)).all()
    terms = s.scalars(select(Term).order_by(Term.code.desc())).all()
    return {"rows": rows, "total": total, "page": page, "pages": max(1, -(-total // PAGE)), "terms": terms}


@bp.route("/")
@login_required(Role.ADMIN, Role.OPERATOR)
def index():
    status, kind, term_code, page = list_args()
    listing = items_page(current_user(), [kind] if kind in KIND_ZH else None, status=status, term_code=term_code,
                         page=page)
    return render_template("review/index.html", **listing, status=status, kind=kind, term_code=term_code,
                           kinds=KIND_ZH, statuses=STATUS_ZH, mask=mask)


@bp.route("/<int:item_id>/resolve", methods=["POST"])
@login_required(Role.ADMIN, Role.OPERATOR)
def resolve(item_id: int):
    s = db.session()
    user = current_user()
    item = s.scalar(_scoped(select(ReviewItem).where(ReviewItem.id == item_id), user))
    if item is None:
        abort(404)
    try:
        review.resolve(s, item, request.form.get("resolution") or "", user, ip=client_ip())
    except review.ReviewError as e:
        s.rollback()
        flash(_(e.message), "warning" if e.code == "resolved" else "error")
    else:
        s.commit()
        flash(_("已标记为已处理"), "success")
    return redirect(request.form.get("next") if (request.form.get("next") or "").startswith("/review")
                    else url_for("review.index"))
