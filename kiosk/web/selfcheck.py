"""Student self-check (no account): ``/check``.

The verified student id lives only in the signed session cookie (for
``SELFCHECK_SESSION_MINUTES``); the photo is served from ``/check/me/photo.jpg`` to that
session alone — there is no URL with a student or photo id in it.
"""
from __future__ import annotations

import time

from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request, session,
                   url_for)

from .. import db, i18n
from ..i18n import _
from ..services import audit, selfcheck
from ..store import StoreError
from .auth import client_ip

bp = Blueprint("selfcheck", __name__)
SESSION_KEY = "selfcheck"
GENERIC = "学号或身份证号后 6 位不正确，或暂时没有可核对的照片。请核对后重试，或联系所在学习中心。"
LIMITED = "尝试次数过多，请 {minutes} 分钟后再试。"

i18n.add_translations({
    "你已从本期毕业生名单撤销（如延期毕业），这张照片本期不会上报，无需核对。如有疑问请联系你的学习中心。":
        "You have been withdrawn from this term's graduates (e.g. graduation postponed): this photo will not be "
        "submitted this term and needs no check. Ask your learning centre if in doubt.",
    "你已从本期毕业生名单撤销，这张照片本期不会上报，无需核对":
        "You have been withdrawn from this term's graduates: this photo will not be submitted and needs no check",
    "学生照片自助核对": "Student photo self-check",
    "输入学号和身份证号后 6 位，查看本人的毕业照片并确认是否正确。": "Enter your student number and the last 6 characters of your ID number to see your graduation photo and confirm it.",
    "身份证号后 6 位": "Last 6 of ID number",
    "查看我的照片": "Show my photo",
    GENERIC: "Wrong student number or ID digits, or no photo to check yet. Please check and try again, or contact your learning centre.",
    LIMITED: "Too many attempts. Please try again in {minutes} minutes.",
    "核对已超时，请重新输入": "The check timed out; please enter your details again",
    "我的毕业照片": "My graduation photo",
    "照片状态": "Photo status",
    "照片正确": "The photo is correct",
    "照片有误": "The photo is wrong",
    "问题类型": "Problem",
    "说明（可选，选择“其他”时必填）": "Comment (optional; required for “Other”)",
    "提交有误报告": "Report the problem",
    "已确认照片正确，谢谢！": "Confirmed as correct, thank you!",
    "已提交有误报告，学习中心会与你联系。": "Your report was sent; your learning centre will contact you.",
    "你的最近一次核对": "Your last answer",
    "结束核对": "Finish",
    "同时请在学信网（学信档案 → 学籍 → 学历照片）核对并选择“正确”或“有误”。":
        "Please also check on CHSI (学信档案 → 学籍 → 学历照片) and choose 正确 (correct) or 有误 (wrong).",
    "正确": "Correct", "有误": "Wrong",
    "不是本人": "Not me", "照片质量问题": "Photo quality", "姓名或学号不符": "Name or number does not match",
    "其他": "Other",
    "请选择“正确”或“有误”": "Choose correct or wrong",
    "请选择问题类型": "Choose the kind of problem",
    "选择“其他”时请简要说明问题": "Please describe the problem when choosing “Other”",
})


def _verified():
    data = session.get(SESSION_KEY)
    if not data:
        return None
    minutes = float(current_app.config.get("SELFCHECK_SESSION_MINUTES", 15))
    if time.time() - data.get("at", 0) > minutes * 60:
        session.pop(SESSION_KEY, None)
        flash(_("核对已超时，请重新输入"), "warning")
        return None
    return selfcheck.current(db.session(), int(data["sid"]))


@bp.route("/", methods=["GET", "POST"])
def index():
    if request.method == "GET":
        if session.get(SESSION_KEY) and _verified() is not None:
            return redirect(url_for("selfcheck.me"))
        return render_template("selfcheck/index.html")
    s = db.session()
    cfg = current_app.config
    window = float(cfg["SELFCHECK_WINDOW_MINUTES"])
    limit = int(cfg["SELFCHECK_MAX_ATTEMPTS"])
    key = selfcheck.rate_key(cfg["SECRET_KEY"], client_ip())
    # Failures are also counted per 学号 (whatever it is, on the roster or not), so
    # guessing one student's ID digits from many addresses is throttled as well.
    xh_key = selfcheck.rate_key(cfg["SECRET_KEY"], "xh:" + request.form.get("xh", "").strip()[:32])
    if selfcheck.recent_attempts(s, key, window) >= limit or \
            selfcheck.recent_attempts(s, xh_key, window) >= 2 * limit:
        return render_template("selfcheck/index.html", error=_(LIMITED, minutes=int(window)), limited=True), 429
    selfcheck.note_attempt(s, key, window)
    found = selfcheck.find(s, request.form.get("xh", ""), request.form.get("idtail", ""))
    if found is None:
        selfcheck.note_attempt(s, xh_key, window)
        s.commit()
        return render_template("selfcheck/index.html", error=_(GENERIC), xh=request.form.get("xh", "")[:32]), 400
    student, photo = found
    audit.record(s, "selfcheck.view", actor="student", object_type="student", object_id=student.id,
                 term_id=student.term_id, photo_sha256=photo.sha256, ip=client_ip(), xh=student.xh)
    s.commit()
    session[SESSION_KEY] = {"sid": student.id, "at": time.time()}
    return redirect(url_for("selfcheck.me"))


@bp.route("/me")
def me():
    found = _verified()
    if found is None:
        return redirect(url_for("selfcheck.index"))
    student, photo = found
    s = db.session()
    last = selfcheck.latest_answer(s, photo.id)
    return render_template("selfcheck/me.html", student=student, photo=photo, last=last,
                           categories=selfcheck.CATEGORIES, results=selfcheck.RESULTS,
                           centre=student.centre.name if student.centre else "")


@bp.route("/me/photo.jpg")
def photo():
    found = _verified()
    if found is None:
        return Response(status=404)
    _student, ph = found
    try:
        data = current_app.extensions["kiosk_store"].get(ph.sha256)
    except StoreError:
        return Response(status=404)
    resp = Response(data, mimetype="image/jpeg")
    resp.headers["Cache-Control"] = "no-store, private"
    return resp


@bp.route("/me/answer", methods=["POST"])
def answer():
    found = _verified()
    if found is None:
        return redirect(url_for("selfcheck.index"))
    student, photo = found
    s = db.session()
    result = request.form.get("result", "")
    try:
        selfcheck.answer(s, student, photo, result, category=request.form.get("category") or None,
                         comment=request.form.get("comment"), ip=client_ip())
    except selfcheck.SelfCheckError as e:
        s.rollback()
        flash(_(e.message), "error")
        return redirect(url_for("selfcheck.me"))
    s.commit()
    flash(_("已确认照片正确，谢谢！") if result == "correct" else _("已提交有误报告，学习中心会与你联系。"), "success")
    return redirect(url_for("selfcheck.me"))


@bp.route("/logout", methods=["POST"])
def logout():
    session.pop(SESSION_KEY, None)
    return redirect(url_for("selfcheck.index"))
