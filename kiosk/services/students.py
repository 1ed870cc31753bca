"""Finding students and their photo status, within what a user may see."""
from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..models import Photo, PhotoStatus, Student
from ..pinyin import is_pinyin_query


def scoped(stmt, scope_ids: set[int] | None):
    """Restrict a Student query to learning centres in ``scope_ids`` (None = everything)."""
    if scope_ids is None:
        return stmt
    return stmt.where(Student.centre_id.in_(scope_ids or {-1}))


def search(session: Session, term_id: int, q: str, scope_ids: set[int] | None, *, limit: int = 50,
           offset: int = 0) -> tuple[list[Student], int]:
    """Students of a term matching ``q``: 学号 (exact or prefix), the last digits of the
    身份证号 (4+ characters), part of the name, or part of the name's pinyin / initials
    (``zhangsan``, ``zs``; see :mod:`kiosk.pinyin`).  Returns ``(page, total)``."""
    stmt = scoped(select(Student).where(Student.term_id == term_id), scope_ids)
    q = (q or "").strip()
    if q:
        # ILIKE: 学号 may hold letters and PostgreSQL's LIKE is case-sensitive (SQLite's
        # is not for ASCII), so "xa2061" must find "XA2061…" on both.
        conds = [Student.xh == q, Student.xh.ilike(q + "%"), Student.name.like("%" + q + "%")]
        if len(q) >= 4 and (q[:-1].isdigit() and (q[-1].isdigit() or q[-1] in "xX")):
            conds.append(Student.id_number.like("%" + q.upper()))
        pq = q.replace(" ", "").lower()
        if is_pinyin_query(pq):
            conds.append(Student.name_pinyin.like("%" + pq + "%"))
        stmt = stmt.where(or_(*conds))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Student.xh).limit(limit).offset(offset)).all()
    return list(rows), total


def status_map(session: Session, student_ids: list[int]) -> dict[int, str]:
    """Photo status per student: ``approved`` when one is approved, else the newest photo's."""
    if not student_ids:
        return {}
    out: dict[int, tuple[int, str]] = {}
    rows = session.execute(select(Photo.student_id, Photo.version, Photo.status)
                           .where(Photo.student_id.in_(student_ids)))
    for sid, version, status in rows:
        cur = out.get(sid)
        if status == PhotoStatus.APPROVED.value:
            out[sid] = (1 << 30, status)
        elif cur is None or (cur[0] < version and cur[1] != PhotoStatus.APPROVED.value):
            out[sid] = (version, status)
    return {k: v[1] for k, v in out.items()}
