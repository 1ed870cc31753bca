"""School admin: terms, roster import, users, audit log."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from .. import db
from ..i18n import _, add_translations
from ..idcard import mask
from ..models import AuditEntry, ImagingUnit, OrgUnit, Photo, PhotoStatus, Role, Student, Term, User
from ..services import roster, students, sync, terms, users
from .auth import client_ip, current_user, login_required

bp = Blueprint("admin", __name__)
PAGE = 50

add_translations({
    "名单": "Roster", "已撤销": "Withdrawn", "恢复": "Restore", "撤销": "Withdraw", "撤销原因": "Reason",
    "不计入应到人数，不采集、不交付": "Not counted as expected; not captured, not delivered",
    "请填写撤销原因（如 退学、延期毕业）": "Give a reason for the withdrawal (e.g. left, graduation postponed)",
    "已撤销 {xh} {name}：不再计入应到人数，不采集、不交付":
        "Withdrew {xh} {name}: no longer counted as expected, not captured, not delivered",
    "{xh} 早已撤销": "{xh} was already withdrawn",
    "已恢复 {xh} {name}": "Restored {xh} {name}",
    "{xh} 未被撤销": "{xh} is not withdrawn",
})


def _term_or_404(code: str) -> Term:
    t = terms.get_term(db.session(), code)
    if t is None:
        abort(404)
    return t


@bp.route("/")
@login_required(Role.ADMIN)
def home():
    s = db.session()
    rows = []
    for t in s.scalars(select(Term).order_by(Term.code.desc())):
        on_roster = (Student.term_id == t.id, Student.withdrawn_at.is_(None))   # as the coverage page counts
        expected = s.scalar(select(func.count(Student.id)).where(*on_roster)) or 0
        approved = s.scalar(select(func.count(Photo.id)).join(Student)
                            .where(*on_roster, Photo.status == PhotoStatus.APPROVED.value)) or 0
        rows.append({"term": t, "expected": expected, "approved": approved, "days_left": terms.days_left(t)})
    return render_template("admin/home.html", rows=rows)


@bp.route("/terms", methods=["POST"])
@login_required(Role.ADMIN)
def create_term():
    s = db.session()
    code = request.form.get("code", "").strip()
    try:
        t = terms.ensure_term(s, code)
    except terms.TermError as e:
        flash(e.message, "error")
        return redirect(url_for("admin.home"))
    from ..services import audit  # noqa: PLC0415

    audit.record(s, "term.create", actor=current_user(), object_type="term", object_id=t.code, term_id=t.id,
                 ip=client_ip())
    s.commit()
    return redirect(url_for("admin.term_students", code=t.code))


@bp.route("/terms/<code>/students")
@login_required(Role.ADMIN)
def term_students(code):
    s = db.session()
    term = _term_or_404(code)
    q = request.args.get("q", "")
    page = max(1, request.args.get("page", 1, type=int))
    rows, total = students.search(s, term.id, q, None, limit=PAGE, offset=(page - 1) * PAGE)
    status = students.status_map(s, [r.id for r in rows])
    centres = {u.id: u.name for u in s.scalars(select(OrgUnit))}
    return render_template("admin/students.html", term=term, rows=rows, total=total, q=q, page=page,
                           pages=max(1, -(-total // PAGE)), status=status, centres=centres, mask=mask)


#: A withdrawal needs a reason people can read later (退学、延期毕业、转入下一期…).
MIN_WITHDRAW_REASON = 2


@bp.route("/terms/<code>/students/<int:sid>/<action>", methods=["POST"])
@login_required(Role.ADMIN)
def student_roster_state(code, sid, action):
    """Take a student off the term's roster (撤销) or put them back (恢复); audited."""
    s = db.session()
    term = _term_or_404(code)
    st = s.get(Student, sid)
    if st is None or st.term_id != term.id or action not in ("withdraw", "restore"):
        abort(404)
    reason = (request.form.get("reason") or "").strip()[:200]
    back = url_for("admin.term_students", code=code, q=request.form.get("q") or None,
                   page=request.form.get("page", type=int) or None)
    if action == "withdraw":
        if len(reason) < MIN_WITHDRAW_REASON:
            flash(_("请填写撤销原因（如 退学、延期毕业）"), "error")
            return redirect(back)
        changed = sync.withdraw_student(s, st, actor=current_user(), reason=reason, ip=client_ip())
        msg = _("已撤销 {xh} {name}：不再计入应到人数，不采集、不交付", xh=st.xh, name=st.name) if changed else \
            _("{xh} 早已撤销", xh=st.xh)
    else:
        changed = sync.restore_student(s, st, actor=current_user(), reason=reason, ip=client_ip())
        msg = _("已恢复 {xh} {name}", xh=st.xh, name=st.name) if changed else _("{xh} 未被撤销", xh=st.xh)
    s.commit()
    flash(msg, "success" if changed else "info")
    return redirect(back)


@bp.route("/terms/<code>/roster", methods=["GET", "POST"])
@login_required(Role.ADMIN)
def roster_import(code):
    s = db.session()
    term = _term_or_404(code)
    report = None
    if request.method == "POST":
        f = request.files.get("file")
        if f is None or not f.filename:
            flash(_("请选择名单文件（.xlsx 或 .csv）"), "error")
            return redirect(url_for("admin.roster_import", code=code))
        dry = bool(request.form.get("dry_run"))
        report = roster.import_roster(s, term, f.read(), f.filename, actor=current_user(), dry_run=dry)
        if dry or report.fatal:
            s.rollback()
        else:
            s.commit()
    return render_template("admin/roster_import.html", term=term, report=report)


@bp.route("/users", methods=["GET", "POST"])
@login_required(Role.ADMIN)
def users_page():
    s = db.session()
    if request.method == "POST":
        f = request.form
        try:
            org = int(f["org_unit_id"]) if f.get("org_unit_id") else None
            iu = int(f["imaging_unit_id"]) if f.get("imaging_unit_id") else None
            u = users.create_user(s, f.get("username", ""), f.get("password", ""), f.get("role", ""),
                                  display_name=f.get("display_name", ""), org_unit_id=org,
                                  imaging_unit_id=iu, actor=current_user())
        except (users.UserError, ValueError) as e:
            s.rollback()
            flash(getattr(e, "message", None) or _("角色无效"), "error")
        else:
            s.commit()
            flash(_("已创建用户 {username}", username=u.username), "success")
        return redirect(url_for("admin.users_page"))
    return render_template("admin/users.html",
                           users=s.scalars(select(User).order_by(User.username)).all(),
                           units=s.scalars(select(OrgUnit).order_by(OrgUnit.kind, OrgUnit.name)).all(),
                           imaging_units=s.scalars(select(ImagingUnit).order_by(ImagingUnit.name)).all(),
                           roles=[r.value for r in Role])


@bp.route("/audit")
@login_required(Role.ADMIN)
def audit_log():
    s = db.session()
    page = max(1, request.args.get("page", 1, type=int))
    action = request.args.get("action", "").strip()
    stmt = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action.like(action + "%"))
    rows = s.scalars(stmt.order_by(AuditEntry.id.desc()).limit(PAGE).offset((page - 1) * PAGE)).all()
    return render_template("admin/audit.html", rows=rows, page=page, action=action)
