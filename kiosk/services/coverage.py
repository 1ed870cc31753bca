"""Coverage of a term: how many expected graduates are captured, approved, delivered,
confirmed — overall and per 学习中心 — and who is still missing an approved photo.

Definitions (per student of the term's roster, within the chosen units):

* ``expected``  on the roster and not withdrawn (``Student.withdrawn_at`` unset);
* ``captured``  has at least one photo of any status;
* ``approved``  has an approved photo;
* ``in_batch``  the approved photo is in at least one upload batch (either channel);
* ``confirmed`` the student's latest self-check answer for the approved photo is 正确;
* ``wrong_open`` has an open 有误 report (``self_report`` review item);
* ``withdrawn`` taken off the roster (退学、转期、延期毕业…): counted apart, in none of the
  others (not expected, not missing, whatever photos they have).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from upload.sheets import simple_sheet, workbook_bytes

from ..i18n import STATUS_ZH
from ..idcard import mask
from ..models import BatchItem, OrgUnit, Photo, PhotoStatus, ReviewItem, ReviewKind, Student, Term
from . import students as students_svc
from .confirmlist import latest_answers
from .orgs import unit_and_descendant_ids

METRICS = (("expected", "应到人数"), ("captured", "已采集"), ("approved", "已通过"), ("in_batch", "已打包上报"),
           ("confirmed", "学生已确认"), ("wrong_open", "有误待处理"))


@dataclass
class Counts:
    expected: int = 0
    captured: int = 0
    approved: int = 0
    in_batch: int = 0
    confirmed: int = 0
    wrong_open: int = 0
    withdrawn: int = 0      # not in ``expected`` nor in any other count

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def pct(self, key: str) -> float:
        return 100.0 * getattr(self, key) / self.expected if self.expected else 0.0


@dataclass
class Coverage:
    total: Counts
    by_centre: list[tuple[str, Counts]] = field(default_factory=list)


def _students(session: Session, term: Term, unit_ids: set[int] | None) -> list[tuple[int, int | None, bool]]:
    """``(id, centre id, withdrawn)`` of the term's students within the units."""
    stmt = select(Student.id, Student.centre_id, Student.withdrawn_at.is_not(None)).where(Student.term_id == term.id)
    if unit_ids is not None:
        stmt = stmt.where(Student.centre_id.in_(unit_ids or {-1}))
    return [(sid, cid, bool(w)) for sid, cid, w in session.execute(stmt)]


def scope_ids(session: Session, unit: OrgUnit | None, allowed: set[int] | None) -> set[int] | None:
    """Units to count: the chosen unit and below, within what the viewer may see."""
    ids = unit_and_descendant_ids(session, unit.id) if unit is not None else None
    if allowed is None:
        return ids
    return allowed if ids is None else ids & allowed


def coverage(session: Session, term: Term, unit_ids: set[int] | None = None) -> Coverage:
    everyone = _students(session, term, unit_ids)
    gone = {sid for sid, _cid, w in everyone if w}
    sids = {sid for sid, _cid, w in everyone if not w}
    captured = {sid for (sid,) in session.execute(
        select(Photo.student_id).join(Student, Student.id == Photo.student_id)
        .where(Student.term_id == term.id).distinct())} & sids
    approved = {pid: sid for pid, sid in session.execute(
        select(Photo.id, Photo.student_id).join(Student, Student.id == Photo.student_id)
        .where(Student.term_id == term.id, Photo.status == PhotoStatus.APPROVED.value)) if sid in sids}
    in_batch = {approved[pid] for (pid,) in session.execute(
        select(BatchItem.photo_id).join(Student, Student.id == BatchItem.student_id)
        .where(Student.term_id == term.id).distinct()) if pid in approved}
    answers = latest_answers(session, list(approved))
    confirmed = {approved[pid] for pid, res in answers.items() if res == "correct"}
    wrong = {sid for (sid,) in session.execute(
        select(ReviewItem.student_id).where(ReviewItem.term_id == term.id, ReviewItem.status == "open",
                                            ReviewItem.kind == ReviewKind.SELF_REPORT.value))} & sids
    approved_s = set(approved.values())

    def count(ids: set[int]) -> Counts:
        on = ids - gone
        return Counts(len(on), len(captured & on), len(approved_s & on), len(in_batch & on),
                      len(confirmed & on), len(wrong & on), withdrawn=len(ids & gone))

    units = {u.id: u for u in session.scalars(select(OrgUnit))}
    per: dict[int | None, set[int]] = {}
    for sid, cid, _w in everyone:
        per.setdefault(cid, set()).add(sid)

    def label(cid):
        u = units.get(cid)
        if u is None:
            return "（未分配学习中心）"
        p = units.get(u.parent_id) if u.parent_id else None
        return f"{p.name} / {u.name}" if p else u.name

    by_centre = sorted(((label(cid), count(ids)) for cid, ids in per.items()), key=lambda x: x[0])
    return Coverage(total=count(sids | gone), by_centre=by_centre)


MISSING_HEADERS = ("学号", "姓名", "身份证号", "分部", "学习中心", "班级", "层次", "专业", "照片状态", "采集码")


def missing_students(session: Session, term: Term, unit_ids: set[int] | None = None) -> list[Student]:
    """Students of the term (within the units) without an approved photo, by centre and 学号;
    withdrawn students are not missing anything."""
    has = select(Photo.student_id).where(Photo.status == PhotoStatus.APPROVED.value)
    stmt = select(Student).where(Student.term_id == term.id, Student.withdrawn_at.is_(None), Student.id.not_in(has))
    if unit_ids is not None:
        stmt = stmt.where(Student.centre_id.in_(unit_ids or {-1}))
    # NULLS LAST spelled out: PostgreSQL sorts NULL last, SQLite first - the list (and its
    # spreadsheet) must come out the same on both.
    return list(session.scalars(stmt.order_by(Student.centre_id.asc().nulls_last(),
                                              Student.class_name.asc().nulls_last(), Student.xh)))


def missing_xlsx(session: Session, term: Term, unit_ids: set[int] | None = None) -> tuple[bytes, int]:
    rows = missing_students(session, term, unit_ids)
    status = students_svc.status_map(session, [s.id for s in rows])
    units = {u.id: u for u in session.scalars(select(OrgUnit))}

    def names(s: Student) -> tuple[str, str]:
        c = units.get(s.centre_id)
        b = units.get(c.parent_id) if c is not None and c.parent_id else None
        return (b.name if b else ""), (c.name if c else "")

    body = []
    for s in rows:
        branch, centre = names(s)
        body.append([s.xh, s.name, mask(s.id_number), branch, centre, s.class_name or "", s.level or "",
                     s.major or "", STATUS_ZH.get(status.get(s.id), "无照片"), "有" if s.collect_code else "无"])
    wb = simple_sheet("缺照片学生", MISSING_HEADERS, body, widths=(16, 10, 22, 12, 16, 16, 6, 18, 12, 8),
                      text_cols=(1, 3))
    return workbook_bytes(wb), len(rows)
