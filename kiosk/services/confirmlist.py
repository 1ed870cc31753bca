"""Confirmation lists per term and 分部/学习中心/班级 (PDF or XLSX, see upload.confirmlist)."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from upload.confirmlist import ConfirmHeader, ConfirmRow, confirm_pdf, confirm_xlsx, thumbnail

from ..i18n import STATUS_ZH
from ..idcard import mask
from ..models import Confirmation, OrgUnit, Photo, PhotoStatus, Student, Term, User
from ..store import PhotoStore, StoreError
from . import audit, batches, students
from .orgs import unit_and_descendant_ids

FORMATS = ("pdf", "xlsx")
ANSWER_ZH = {"correct": "正确", "wrong": "有误"}


class ConfirmListError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _date(d: dt.date | dt.datetime | None) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if d else ""


def deadline_text(term: Term) -> str:
    """The term's confirmation deadline, else its graduation review window."""
    if term.confirm_deadline:
        return _date(term.confirm_deadline)
    if term.review_start and term.review_end:
        return f"毕业审核期间（{_date(term.review_start)}至{_date(term.review_end)}）结束前"
    return "毕业审核开始前"


def check_url(base_url: str | None) -> str:
    if not base_url or not re.match(r"^https?://[^\s/]+", base_url.strip()):
        raise ConfirmListError("base_url", "没有可用的网站地址：请设置 PUBLIC_BASE_URL（例如 https://photo.example.edu.cn）"
                                           "或在命令中用 --base-url 指定")
    return base_url.strip().rstrip("/") + "/check"


def latest_answers(session: Session, photo_ids: list[int]) -> dict[int, str]:
    """photo id → the student's latest self-check answer for that photo (correct/wrong)."""
    out: dict[int, tuple[int, str]] = {}
    if not photo_ids:
        return {}
    for cid, pid, result in session.execute(select(Confirmation.id, Confirmation.photo_id, Confirmation.result)
                                            .where(Confirmation.photo_id.in_(photo_ids))):
        if pid not in out or out[pid][0] < cid:
            out[pid] = (cid, result)
    return {k: v[1] for k, v in out.items()}


def gather(session: Session, store: PhotoStore | None, term: Term, *, unit: OrgUnit | None = None,
           class_name: str | None = None, thumbnails: bool = False) -> list[ConfirmRow]:
    """One row per student of the term (within the unit / class) still on the roster:
    a withdrawn student is no graduate of this term and has nothing to confirm."""
    stmt = select(Student).where(Student.term_id == term.id, Student.withdrawn_at.is_(None))
    if unit is not None:
        stmt = stmt.where(Student.centre_id.in_(unit_and_descendant_ids(session, unit.id)))
    if class_name:
        stmt = stmt.where(Student.class_name == class_name)
    studs = list(session.scalars(stmt))
    units = {u.id: u.name for u in session.scalars(select(OrgUnit))}
    studs.sort(key=lambda s: (units.get(s.centre_id, ""), s.class_name or "", s.xh))
    ids = [s.id for s in studs]
    status = students.status_map(session, ids)
    approved = {p.student_id: p for p in session.scalars(select(Photo).where(
        Photo.student_id.in_(ids or [-1]), Photo.status == PhotoStatus.APPROVED.value))}
    delivered = batches.delivered_dates(session, [p.id for p in approved.values()])
    answers = latest_answers(session, [p.id for p in approved.values()])
    rows = []
    for s in studs:
        p = approved.get(s.id)
        thumb = None
        if thumbnails and p is not None and p.sha256 and store is not None:
            try:
                thumb = thumbnail(store.get(p.sha256))
            except (StoreError, OSError):
                thumb = None
        rows.append(ConfirmRow(
            xh=s.xh, name=s.name, id_masked=mask(s.id_number), status=STATUS_ZH.get(status.get(s.id), "无照片"),
            batch_date=delivered[p.id].strftime("%Y-%m-%d") if p is not None and p.id in delivered else "",
            self_check=ANSWER_ZH.get(answers.get(p.id), "") if p is not None else "",
            centre=units.get(s.centre_id, ""), class_name=s.class_name or "", thumbnail=thumb))
    return rows


def build(session: Session, store: PhotoStore | None, term: Term, fmt: str, *, base_url: str | None,
          school: str = "", unit: OrgUnit | None = None, class_name: str | None = None,
          thumbnails: bool = False, actor: User | str | None = None, ip: str | None = None) -> tuple[bytes, str]:
    """The list as ``(bytes, suggested file name)``; audited."""
    if fmt not in FORMATS:
        raise ConfirmListError("format", f"未知的格式：{fmt}（可用：pdf、xlsx）")
    url = check_url(base_url)
    scope = " / ".join(x for x in (unit.name if unit is not None else "全部学生", class_name) if x)
    header = ConfirmHeader(school=school, term_code=term.code, term_name=term.name, scope=scope,
                           deadline=deadline_text(term), check_url=url,
                           generated_at=dt.datetime.now().strftime("%Y-%m-%d %H:%M"))
    rows = gather(session, store, term, unit=unit, class_name=class_name, thumbnails=thumbnails)
    data = (confirm_pdf if fmt == "pdf" else confirm_xlsx)(header, rows, thumbnails=thumbnails)
    safe_scope = re.sub(r'[\\/:*?"<>|\s]+', "_", scope).strip("_")
    name = f"核对名单_{term.code}_{safe_scope}.{fmt}"
    audit.record(session, "confirmlist.export", actor=actor, object_type="term", object_id=term.code,
                 term_id=term.id, ip=ip, format=fmt, unit=unit.name if unit is not None else None,
                 class_name=class_name, students=len(rows), thumbnails=thumbnails)
    return data, name
