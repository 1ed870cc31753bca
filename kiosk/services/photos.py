"""Photos of students: record every capture/upload, decide, keep the history.

State machine (``Photo.status``)::

    captured ─┬─ approve ──► approved ── (a newer one is approved) ──► superseded
    review  ──┤
    pending ──┘
       └────── retake / reject ──► rejected

* ``pass`` may be approved by an operator; ``warn`` only after the manual checklist is
  ticked (or by an admin); ``fail`` only by an admin with a written reason (override).
* Approving makes the photo the student's one approved photo of the term; the previous
  approved photo becomes ``superseded`` (never deleted).
* Every change is in the audit log with the photo's SHA-256, the actor and station.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..db import lock_rows
from ..models import Photo, PhotoStatus, QCReport, Role, Student, User, utcnow
from ..store import PhotoStore
from . import audit

DECIDABLE = {PhotoStatus.CAPTURED.value, PhotoStatus.REVIEW.value, PhotoStatus.PENDING.value}

#: Called as ``hook(session, photo, actor)`` after a photo becomes approved (identity and
#: duplicate checks register here; see kiosk.services.identity).
on_approved: list[Callable[[Session, Photo, Any], None]] = []


#: Why a withdrawn (撤销) student's photo is not taken (the station) …
WITHDRAWN_ZH = "该学生已从本期名单撤销，不采集；如有误请联系管理员恢复"
#: … and why their waiting photo is not approved (every approval path).
APPROVE_WITHDRAWN_ZH = "该学生已从本期名单撤销，不能批准其照片；如有误请先由管理员恢复该学生"


class PhotoError(Exception):
    """A decision that is not allowed.  ``code`` is stable; ``message`` is Chinese."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def next_version(session: Session, student_id: int) -> int:
    cur = session.scalar(select(func.max(Photo.version)).where(Photo.student_id == student_id))
    return (cur or 0) + 1


def approved_photo(session: Session, student_id: int) -> Photo | None:
    return session.scalar(select(Photo).where(Photo.student_id == student_id,
                                              Photo.status == PhotoStatus.APPROVED.value)
                          .execution_options(populate_existing=True))


def latest_photo(session: Session, student_id: int) -> Photo | None:
    return session.scalar(select(Photo).where(Photo.student_id == student_id).order_by(Photo.version.desc()).limit(1))


def encoding_bytes(vec) -> bytes | None:
    if vec is None:
        return None
    return np.asarray(vec, dtype=np.float32).tobytes()


def encoding_array(blob: bytes | None) -> np.ndarray | None:
    if not blob:
        return None
    return np.frombuffer(blob, dtype=np.float32)


def record_photo(session: Session, store: PhotoStore, student: Student, *, original: bytes,
                 spec: bytes | None, report=None, source: str, actor: User | str | None,
                 status: str | None = None, original_name: str | None = None, normalized: bool = False,
                 transform: dict | None = None, capture_session_id: int | None = None,
                 station_id: int | None = None, station_name: str | None = None,
                 intake_job_id: int | None = None, encoding=None, phash: int | None = None,
                 identity_distance: float | None = None, ip: str | None = None) -> Photo:
    """Store the bytes and add a new photo version with its QC report.

    ``original`` is what was received (camera frame, uploaded file) and is stored first;
    ``spec`` the 480×640 JPEG that was checked (``None`` when normalising failed: the
    photo is then ``unusable``).  ``report`` is a :class:`qc.types.Report`.
    """
    original_sha = store.put(original)
    spec_sha = store.put(spec) if spec is not None else None
    verdict = report.verdict.value if report is not None else None
    if status is None:
        status = PhotoStatus.CAPTURED.value if spec is not None else PhotoStatus.UNUSABLE.value
    photo = Photo(
        student_id=student.id, version=next_version(session, student.id), source=source, status=status,
        sha256=spec_sha, original_sha256=original_sha, original_name=original_name, normalized=normalized,
        transform=transform, width=getattr(report, "width", None), height=getattr(report, "height", None),
        size_bytes=len(spec) if spec is not None else None, qc_verdict=verdict,
        profile=getattr(report, "profile", None), face_encoding=encoding_bytes(encoding), phash=phash,
        identity_distance=identity_distance, session_id=capture_session_id, station_id=station_id,
        intake_job_id=intake_job_id,
        operator_id=actor.id if isinstance(actor, User) else None,
    )
    session.add(photo)
    session.flush()
    if report is not None:
        d = report.to_dict()
        session.add(QCReport(photo_id=photo.id, profile=d["profile"], profile_version=d["profile_version"],
                             verdict=d["verdict"], checks=d["checks"], elapsed_ms=d["elapsed_ms"]))
    audit.record(session, f"photo.{source}", actor=actor, object_type="photo", object_id=photo.id,
                 term_id=student.term_id, photo_sha256=spec_sha, station=station_name, ip=ip,
                 xh=student.xh, version=photo.version, verdict=verdict, status=status,
                 original_sha256=original_sha, original_name=original_name)
    session.flush()
    return photo


def record_prepared(session: Session, store: PhotoStore, student: Student, original: bytes, prepared, *,
                    source: str, actor: User | str | None, **kw) -> Photo:
    """Record what :func:`capture.prepare.prepare` made of ``original``.

    A refused frame is kept as an ``unusable`` photo whose ``decision_note`` carries the
    reason, so nothing received is ever lost.
    """
    photo = record_photo(session, store, student, original=original, spec=prepared.spec, report=prepared.report,
                         source=source, actor=actor, normalized=prepared.normalized,
                         transform=prepared.transform, encoding=prepared.encoding,
                         phash=getattr(prepared, "phash", None), **kw)
    if prepared.refusal is not None:
        photo.decision_note = f"[{prepared.refusal['code']}] {prepared.refusal['message_zh']}"
        session.flush()
    return photo


@dataclass
class NewPhoto:
    """One received photo for :func:`record_many`: what :func:`record_prepared` takes."""

    student: Student
    original: bytes
    prepared: Any                      # capture.prepare.Prepared
    status: str | None = None          # None: captured (or unusable without a spec photo)
    original_name: str | None = None
    approve: bool = False              # approve at once (a QC pass; the student has none approved)


def record_many(session: Session, store: PhotoStore, items: list[NewPhoto], *, source: str,
                actor: User | str | None, intake_job_id: int | None = None) -> list[Photo]:
    """Record many received photos with two flushes (bulk intake).

    Writes the same rows :func:`record_prepared` (and :func:`approve`, for items with
    ``approve=True``) would — photo version, QC report, ``photo.<source>`` and
    ``photo.approve`` audit entries — but versions are read once per batch and rows are
    flushed together: one-by-one recording spent ~6 flushes a photo, the serial part of
    an intake of thousands.  Approving here is only for a passing photo of a student
    with no approved photo (nothing to supersede); anything else raises
    :class:`PhotoError` and the caller uses :func:`approve`.  Hooks are not run.
    """
    if not items:
        return []
    sids = sorted({it.student.id for it in items})
    versions = dict(session.execute(select(Photo.student_id, func.max(Photo.version))
                                    .where(Photo.student_id.in_(sids)).group_by(Photo.student_id)).all())
    approving = [it.student.id for it in items if it.approve]
    if approving:
        # Another process may be approving for these students right now: hold them.
        lock_rows(session, Student, approving)
        taken = set(session.scalars(select(Photo.student_id).where(Photo.student_id.in_(approving),
                                                                   Photo.status == PhotoStatus.APPROVED.value)))
        if taken or len(set(approving)) != len(approving):
            raise PhotoError("state", "该学生已有通过的照片（或一批中有两张待批准），不能直接批准")
    user = actor if isinstance(actor, User) else None
    now = utcnow()
    rows: list[Photo] = []
    for it in items:
        p = it.prepared
        report = p.report
        verdict = report.verdict.value if report is not None else None
        if it.approve and verdict != "pass":
            raise PhotoError("verdict", "只有检查合格的照片才能自动批准")
        original_sha = store.put(it.original)
        spec_sha = store.put(p.spec) if p.spec is not None else None
        status = it.status or (PhotoStatus.CAPTURED.value if p.spec is not None else PhotoStatus.UNUSABLE.value)
        versions[it.student.id] = versions.get(it.student.id, 0) + 1
        rows.append(Photo(
            student_id=it.student.id, version=versions[it.student.id], source=source,
            status=PhotoStatus.APPROVED.value if it.approve else status, sha256=spec_sha,
            original_sha256=original_sha, original_name=it.original_name, normalized=p.normalized,
            transform=p.transform, width=getattr(report, "width", None), height=getattr(report, "height", None),
            size_bytes=len(p.spec) if p.spec is not None else None, qc_verdict=verdict,
            profile=getattr(report, "profile", None), face_encoding=encoding_bytes(p.encoding),
            phash=getattr(p, "phash", None), intake_job_id=intake_job_id, operator_id=user.id if user else None,
            decided_by_id=user.id if (it.approve and user) else None, decided_at=now if it.approve else None,
            decision_note=(f"[{p.refusal['code']}] {p.refusal['message_zh']}" if p.refusal is not None else None)))
    session.add_all(rows)
    session.flush()
    extra: list[Any] = []
    for photo, it in zip(rows, items):
        report = it.prepared.report
        if report is not None:
            d = report.to_dict()
            extra.append(QCReport(photo_id=photo.id, profile=d["profile"], profile_version=d["profile_version"],
                                  verdict=d["verdict"], checks=d["checks"], elapsed_ms=d["elapsed_ms"]))
        extra.append(audit.entry(f"photo.{source}", actor=actor, object_type="photo", object_id=photo.id,
                                 term_id=it.student.term_id, photo_sha256=photo.sha256, xh=it.student.xh,
                                 version=photo.version, verdict=photo.qc_verdict,
                                 status=PhotoStatus.CAPTURED.value if it.approve else photo.status,
                                 original_sha256=photo.original_sha256, original_name=photo.original_name))
        if it.approve:
            extra.append(audit.entry("photo.approve", actor=actor, object_type="photo", object_id=photo.id,
                                     photo_sha256=photo.sha256, term_id=it.student.term_id, xh=it.student.xh,
                                     verdict=photo.qc_verdict, override=False, reason=None, checklist=False,
                                     superseded=None))
    session.add_all(extra)
    session.flush()
    return rows


def can_approve(photo: Photo, actor: User | None, *, checklist_ok: bool = False,
                override_reason: str | None = None) -> tuple[bool, str, str]:
    """Whether ``actor`` may approve ``photo`` now: ``(ok, code, message_zh)``."""
    if photo.status not in DECIDABLE:
        return False, "state", f"该照片当前状态为 {photo.status}，不能再批准"
    if photo.sha256 is None:
        return False, "unusable", "原始照片无法生成合格的证件照，不能批准"
    is_admin = actor is not None and getattr(actor, "role", None) == Role.ADMIN.value
    verdict = photo.qc_verdict
    if verdict == "pass":
        return True, "ok", ""
    if verdict == "warn":
        if checklist_ok or is_admin:
            return True, "ok", ""
        return False, "checklist_required", "照片有提醒项：请先逐项核对人工检查清单并勾选确认"
    if verdict == "fail" or verdict is None:
        if not is_admin:
            return False, "fail_needs_admin", "照片未通过检查，只能重拍；如确需使用须由管理员填写理由后批准"
        if not (override_reason or "").strip():
            return False, "reason_required", "管理员批准未通过的照片须填写理由"
        return True, "override", ""
    return False, "verdict", f"未知的检查结论 {verdict}"


def approve(session: Session, photo: Photo, actor: User | str | None, *, checklist_ok: bool = False,
            override_reason: str | None = None, station_name: str | None = None, ip: str | None = None,
            run_hooks: bool = True) -> Photo:
    """Make ``photo`` the student's approved photo (the previous one becomes superseded).

    Decisions about one student are serialised (its row is locked until the commit), and
    the photo's state is read again under that lock: of two approvals of the same photo
    at once one wins and the other gets ``PhotoError("state")``; two photos of the same
    student approved at once end as they would one after the other (the later one
    approved, the earlier superseded), never as two approved photos or a database error.
    """
    session.flush()
    lock_rows(session, Student, [photo.student_id])
    session.refresh(photo)
    session.refresh(photo.student, ["withdrawn_at"])
    if photo.student.withdrawn_at is not None:
        # Withdrawn from the roster (perhaps after the photo was taken): nobody approves
        # their photo, on any page, until an admin restores them.
        raise PhotoError("student_withdrawn", APPROVE_WITHDRAWN_ZH)
    # Automatic actors (an intake job, the CLI) are plain strings: they get an
    # operator's rights, never an admin's override.
    user = actor if isinstance(actor, User) else None
    ok, code, msg = can_approve(photo, user, checklist_ok=checklist_ok, override_reason=override_reason)
    if not ok:
        raise PhotoError(code, msg)
    previous = approved_photo(session, photo.student_id)
    if previous is not None and previous.id != photo.id:
        previous.status = PhotoStatus.SUPERSEDED.value
        session.flush()  # free the one-approved slot before taking it
        audit.record(session, "photo.supersede", actor=actor, object_type="photo", object_id=previous.id,
                     photo_sha256=previous.sha256, term_id=photo.student.term_id, station=station_name,
                     ip=ip, xh=photo.student.xh, by_photo=photo.id)
    photo.status = PhotoStatus.APPROVED.value
    photo.decided_by_id = user.id if user else None
    photo.decided_at = utcnow()
    photo.override = code == "override"
    if override_reason:
        photo.decision_note = override_reason.strip()
    elif checklist_ok:
        photo.decision_note = "人工检查清单已确认"
    session.flush()
    audit.record(session, "photo.approve", actor=actor, object_type="photo", object_id=photo.id,
                 photo_sha256=photo.sha256, term_id=photo.student.term_id, station=station_name, ip=ip,
                 xh=photo.student.xh, verdict=photo.qc_verdict, override=photo.override,
                 reason=override_reason, checklist=checklist_ok,
                 superseded=previous.id if previous is not None and previous.id != photo.id else None)
    if run_hooks:
        for hook in on_approved:
            hook(session, photo, actor)
    return photo


def reject(session: Session, photo: Photo, actor: User | str | None, *, reason: str = "",
           action: str = "photo.retake", station_name: str | None = None, ip: str | None = None) -> Photo:
    """Retake / reject: the photo stays on record as ``rejected``."""
    session.flush()
    lock_rows(session, Student, [photo.student_id])   # not at the same time as an approval of it
    session.refresh(photo)
    if photo.status not in DECIDABLE:
        raise PhotoError("state", f"该照片当前状态为 {photo.status}，不能再处理")
    photo.status = PhotoStatus.REJECTED.value
    photo.decided_by_id = actor.id if isinstance(actor, User) else None
    photo.decided_at = utcnow()
    photo.decision_note = reason or None
    session.flush()
    audit.record(session, action, actor=actor, object_type="photo", object_id=photo.id,
                 photo_sha256=photo.sha256, term_id=photo.student.term_id, station=station_name, ip=ip,
                 xh=photo.student.xh, reason=reason, verdict=photo.qc_verdict)
    return photo
