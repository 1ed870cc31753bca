"""Student self-check: 学号 + last 6 characters of the 身份证号 → their approved photo,
and their answer (正确 / 有误).  No account; rate-limited per client.

* One generic failure for a wrong 学号, a wrong ID tail or "no approved photo yet", so
  the page cannot be used to learn who is on the roster.
* Attempts are counted in ``rate_events`` under a keyed hash of the client address
  (the address itself is not stored).
* An 有误 answer opens (or updates) a ``self_report`` review item for the student's
  branch; every answer is a ``Confirmation`` row and an audit entry (actor ``student``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..models import (Confirmation, Photo, PhotoStatus, RateEvent, ReviewItem, ReviewKind, Student, Term,
                      utcnow)
from . import audit

CATEGORIES = {"not_me": "不是本人", "quality": "照片质量问题", "info": "姓名或学号不符", "other": "其他"}
RESULTS = {"correct": "正确", "wrong": "有误"}
MAX_COMMENT = 500


class SelfCheckError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def rate_key(secret: str, client: str) -> str:
    digest = hmac.new(secret.encode(), (client or "-").encode(), hashlib.sha256).hexdigest()
    return f"selfcheck:{digest[:40]}"


def recent_attempts(session: Session, key: str, window_minutes: float, now: dt.datetime | None = None) -> int:
    since = (now or utcnow()) - dt.timedelta(minutes=window_minutes)
    return session.scalar(select(func.count(RateEvent.id)).where(RateEvent.key == key, RateEvent.at >= since)) or 0


def note_attempt(session: Session, key: str, window_minutes: float) -> None:
    """Count an attempt; drop events older than a day (any key) on the way."""
    now = utcnow()
    session.execute(delete(RateEvent).where(RateEvent.at < now - dt.timedelta(minutes=max(window_minutes, 24 * 60))))
    session.add(RateEvent(key=key, at=now))
    session.flush()


def normalise(xh: str, tail: str) -> tuple[str, str]:
    return (xh or "").strip(), (tail or "").strip().upper()


def find(session: Session, xh: str, tail: str) -> tuple[Student, Photo] | None:
    """The student with this 学号 whose 身份证号 ends with ``tail`` (6 characters) and who
    has an approved photo; the newest term first.  ``None`` for every kind of failure."""
    xh, tail = normalise(xh, tail)
    if not xh or len(tail) != 6 or len(xh) > 32:
        return None
    rows = session.execute(select(Student, Photo).join(Term, Term.id == Student.term_id)
                           .join(Photo, Photo.student_id == Student.id)
                           .where(Student.xh == xh, Photo.status == PhotoStatus.APPROVED.value)
                           .order_by(Term.code.desc())).all()
    for student, photo in rows:
        if hmac.compare_digest((student.id_number or "").strip().upper()[-6:], tail):
            return student, photo
    return None


def current(session: Session, student_id: int) -> tuple[Student, Photo] | None:
    """The verified student and their approved photo *now* (a newer one may have been approved)."""
    student = session.get(Student, student_id)
    if student is None:
        return None
    photo = session.scalar(select(Photo).where(Photo.student_id == student_id,
                                               Photo.status == PhotoStatus.APPROVED.value))
    return (student, photo) if photo is not None else None


def latest_answer(session: Session, photo_id: int) -> Confirmation | None:
    return session.scalar(select(Confirmation).where(Confirmation.photo_id == photo_id)
                          .order_by(Confirmation.id.desc()).limit(1))


def open_report(session: Session, student_id: int) -> ReviewItem | None:
    return session.scalar(select(ReviewItem).where(ReviewItem.student_id == student_id,
                                                   ReviewItem.kind == ReviewKind.SELF_REPORT.value,
                                                   ReviewItem.status == "open").order_by(ReviewItem.id.desc()).limit(1))


def answer(session: Session, student: Student, photo: Photo, result: str, *, category: str | None = None,
           comment: str | None = None, ip: str | None = None) -> Confirmation:
    """Record 正确 / 有误.  有误 needs a category and opens (or updates) a review item.
    A student withdrawn from the term has nothing to confirm (``withdrawn``)."""
    if student.withdrawn_at is not None:
        raise SelfCheckError("withdrawn", "你已从本期毕业生名单撤销，这张照片本期不会上报，无需核对")
    if result not in RESULTS:
        raise SelfCheckError("result", "请选择“正确”或“有误”")
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise SelfCheckError("comment", f"说明不能超过 {MAX_COMMENT} 字")
    if result == "wrong":
        if category not in CATEGORIES:
            raise SelfCheckError("category", "请选择问题类型")
        if category == "other" and not comment:
            raise SelfCheckError("comment", "选择“其他”时请简要说明问题")
    else:
        category, comment = None, comment or None
    conf = Confirmation(student_id=student.id, photo_id=photo.id, result=result, category=category,
                        comment=comment or None)
    session.add(conf)
    session.flush()
    item = None
    if result == "wrong":
        item = open_report(session, student.id)
        if item is None:
            item = ReviewItem(term_id=student.term_id, kind=ReviewKind.SELF_REPORT.value, status="open",
                              student_id=student.id, photo_id=photo.id, detail={})
            session.add(item)
        item.photo_id = photo.id
        item.category = category
        item.comment = comment or None
        item.detail = {**(item.detail or {}), "confirmation_id": conf.id, "category_zh": CATEGORIES[category]}
        session.flush()
    audit.record(session, "selfcheck.wrong" if result == "wrong" else "selfcheck.correct", actor="student",
                 object_type="student", object_id=student.id, term_id=student.term_id, photo_sha256=photo.sha256,
                 ip=ip, xh=student.xh, category=category, review_item=item.id if item is not None else None)
    return conf
