"""Bulk intake: an imaging unit's ZIP or folder of photos → checked, recorded, reconciled.

:func:`run_job` works in four phases and records its progress on the
:class:`~kiosk.models.IntakeJob` row (so the web page and another process can follow):

1. **scan** — every entry is read once through :func:`capture.archive.read_archive`
   (hostile or junk entries come back as ``skipped`` with the reader's reason), hashed,
   and matched to a student of the term by its name or the manifest
   (:mod:`kiosk.services.intake_match`).  Then the plan: bytes already on record for
   that student, the same bytes under two names, two files for one student.
2. **check** — the files to check go to the worker pool in chunks
   (:func:`capture.bulk.check_chunk` → :func:`capture.prepare.prepare`, ``mode="auto"``:
   spec-size files are checked as they are, originals normalised first).  A face
   encoding is computed there only when the student has an enrolment photo
   (``identity_match`` needs it).  Results are recorded here, in the main process, and
   committed every ``commit_every`` files: progress is visible and a crash loses little.
3. **post** — the photos this job approved get their face encodings (in the pool),
   stored on the photo, and then the ``photos.on_approved`` hooks run for them
   (identity / duplicate-face checks).  The main pass approves with ``run_hooks=False``.
4. **finish** — outcome counts, timings, status ``done``; audit ``intake.finish``.

With the Celery backend (``JOBS_BACKEND = "celery"``, :mod:`kiosk.tasks`) the same phases
run spread over machines — :func:`start_distributed` (scan, in the submitter),
:func:`load_chunk` / :func:`record_checked` / :func:`encode_approved` (one check task
per chunk, on any worker), :func:`finish_distributed` (post and finish) — and give the
same outcome for every file.

Outcome rules (one :class:`~kiosk.models.IntakeFile` per entry):

==========  ===========================================================================
approved    QC pass, no conflict, the student had no approved photo → approved
            automatically (actor ``intake:<unit>``)
pending     QC pass but the student already has an approved photo → waits for an
            admin's decision (review item ``replace``)
review      QC warn (review item ``qc_warn``), or a pass/warn that conflicts: several
            files for one student (``multiple_files``) or the same bytes under two
            students (``duplicate_file``) — nobody is approved automatically then
rejected    QC fail, or an original that cannot be normalised (no face, …): kept as a
            ``rejected``/``unusable`` photo with the reasons
unmatched   no student of the term for the name (unknown key, another term's student,
            invalid 身份证号, ambiguous), or the student was withdrawn from the term's
            roster (code ``withdrawn``; also when withdrawn while the job ran): never
            recorded as their photo; the bytes are kept in the store
skipped     refused by the archive reader (unsafe path, link, nested archive, zip bomb…),
            system junk, not an image, or bytes already on record (same SHA-256 as a
            photo of that student, or an earlier file of this archive) — not duplicated
error       the file could not be processed (a worker crash, the file changed while
            the job ran); the bytes are kept in the store
==========  ===========================================================================
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from capture import bulk
from capture.archive import ArchiveError, Entry, Limits, Skipped, read_archive

from ..jobs import WorkerCrash, WorkerPool
from ..models import (ImagingUnit, IntakeFile, IntakeJob, Photo, PhotoStatus, ReviewItem, ReviewKind, Student,
                      Term, User, utcnow)
from ..store import PhotoStore, StoreError
from . import audit, duplicates, identity, photos
from .intake_match import Manifest, Matcher, is_photo, withdrawn_match

OUTCOMES = ("approved", "review", "rejected", "pending", "unmatched", "skipped", "error")
OUTCOME_ZH = {"approved": "已通过", "review": "待复核", "rejected": "未通过", "pending": "待确认替换",
              "unmatched": "未匹配", "skipped": "已跳过", "error": "出错"}
#: Outcomes that make ``kiosk intake`` exit 1 (something the unit must fix and resend).
PROBLEM_OUTCOMES = ("rejected", "unmatched", "error")
#: A running job that has not made progress for this long is reported as interrupted.
STALE_AFTER = dt.timedelta(minutes=10)
PHASE_ZH = {"": "", "queued": "排队中", "scan": "读取文件", "check": "检查照片", "post": "人脸特征与查重",
            "finish": "生成报告"}

_SPREADSHEET_EXTS = {".csv", ".xlsx", ".xls"}


class IntakeError(Exception):
    """The job as a whole cannot run (unreadable archive, bad options).  ``message`` is Chinese."""

    def __init__(self, code: str, message: str, message_en: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.message_en = message_en or message


def reference_for(student: Student) -> np.ndarray | None:
    """The student's enrolment-photo encoding for ``identity_match`` (``None``: none)."""
    return identity.reference_for(student)


def actor_label(unit: ImagingUnit | None) -> str:
    """The automatic actor that approves passing photos for an imaging unit."""
    return f"intake:{unit.name if unit is not None else 'unknown'}"


# ---------------------------------------------------------------------------- job rows
def create_job(session: Session, term: Term, unit: ImagingUnit | None, *, source_name: str,
               actor: User | str | None, key: str = "auto", source_sha256: str | None = None,
               options: dict[str, Any] | None = None) -> IntakeJob:
    """A queued job (flushed).  ``actor`` is the user (web) or a label such as ``cli:root``."""
    job = IntakeJob(term_id=term.id, imaging_unit_id=unit.id if unit else None,
                    created_by_id=actor.id if isinstance(actor, User) else None,
                    created_by_name=(actor.username if isinstance(actor, User) else (actor or "system"))[:80],
                    source_name=source_name[:255], source_sha256=source_sha256, key=key, status="queued",
                    phase="queued", total=0, processed=0, summary={}, options=dict(options or {}))
    session.add(job)
    session.flush()
    return job


def fail_job(session: Session, job: IntakeJob, code: str, message: str) -> IntakeJob:
    """Mark ``job`` failed with a readable reason (flushed); audit ``intake.failed``."""
    job.status = "failed"
    job.error = f"[{code}] {message}"
    job.finished_at = utcnow()
    job.heartbeat_at = job.finished_at
    session.flush()
    audit.record(session, "intake.failed", actor=job.created_by_name or None, object_type="intake_job",
                 object_id=job.id, term_id=job.term_id, code=code, message=message[:300])
    return job


def is_stale(job: IntakeJob, now: dt.datetime | None = None) -> bool:
    """A ``running`` job whose heartbeat stopped (its process died or was restarted)."""
    if job.status != "running":
        return False
    beat = job.heartbeat_at or job.started_at or job.created_at
    return (now or utcnow()) - beat > STALE_AFTER


def mark_interrupted(session: Session, job: IntakeJob) -> None:
    fail_job(session, job, "interrupted", "任务中断（服务重启或进程退出）。已处理的文件都已保存；重新提交同一压缩包时，"
                                          "已导入的照片会被识别并跳过")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------- planning
@dataclass
class _Plan:
    """What will become of one archive entry."""

    position: int
    name: str
    sha256: str | None = None
    outcome: str | None = None                 # decided without QC: skipped / unmatched / error
    reasons: list[dict] = field(default_factory=list)
    student_id: int | None = None
    xh: str | None = None
    key_kind: str | None = None
    collect_code: str | None = None
    photo_id: int | None = None
    conflict: dict | None = None               # {"kind", "message_zh", "other_student_id", "files"}

    @property
    def to_check(self) -> bool:
        return self.outcome is None


#: File names a conflict lists, the rest counted: one file sent for thousands of 学号 must
#: not write thousands of names into each of its thousands of reports and review items.
CONFLICT_NAMES = 10


def _listed(names: list[str]) -> str:
    shown = "、".join(names[:CONFLICT_NAMES])
    return shown if len(names) <= CONFLICT_NAMES else f"{shown} 等 {len(names)} 个文件"


def _reason(code: str, message_zh: str, message_en: str = "") -> dict:
    d = {"code": code, "message_zh": message_zh}
    if message_en:
        d["message_en"] = message_en
    return d


def _qc_reasons(report, statuses=("fail", "warn")) -> list[dict]:
    out = []
    for c in report.problems():
        if c.status.value in statuses:
            out.append({"check": c.check, "status": c.status.value, "code": c.code, "message_zh": c.message_zh,
                        "message_en": c.message_en})
    return out


@dataclass
class _Ctx:
    session: Session
    store: PhotoStore
    job: IntakeJob
    term: Term
    actor: str
    commit: Callable[[], None] | None
    on_progress: Callable[[IntakeJob], None] | None
    commit_every: int
    written: int = 0
    since_commit: int = 0

    def row(self, plan: _Plan, outcome: str, reasons: list[dict] | None = None, photo_id: int | None = None) -> None:
        self.session.add(IntakeFile(job_id=self.job.id, name=plan.name[:512], xh=plan.xh, student_id=plan.student_id,
                                    photo_id=photo_id if photo_id is not None else plan.photo_id, sha256=plan.sha256,
                                    outcome=outcome, reasons=reasons if reasons is not None else plan.reasons,
                                    key_kind=plan.key_kind, position=plan.position))
        self.written += 1
        self.since_commit += 1
        if self.since_commit >= self.commit_every:
            self.checkpoint()

    def checkpoint(self) -> None:
        self.job.processed = self.written
        self.job.heartbeat_at = utcnow()
        self.session.flush()
        if self.commit is not None:
            self.commit()
        self.since_commit = 0
        if self.on_progress is not None:
            self.on_progress(self.job)


def _scan(c: _Ctx, source: str | Path, matcher: Matcher, limits: Limits, manifest: Manifest | None,
          keep_all: bool = False) -> list[_Plan]:
    plans: list[_Plan] = []
    for pos, item in enumerate(read_archive(source, limits)):
        if isinstance(item, Skipped):
            plans.append(_Plan(pos, item.name, outcome="skipped",
                               reasons=[_reason(item.code, item.message_zh, item.message_en)]))
            continue
        assert isinstance(item, Entry)
        p = _Plan(pos, item.name, sha256=hashlib.sha256(item.data).hexdigest())
        plans.append(p)
        suffix = PurePosixPath(item.name.lower()).suffix
        if not is_photo(item.name, item.data):
            if manifest is not None and PurePosixPath(item.name).name == manifest.name:
                p.outcome, p.reasons = "skipped", [_reason("manifest", "清单文件（已作为清单读取）")]
            elif suffix in _SPREADSHEET_EXTS:
                p.outcome, p.reasons = "skipped", [_reason(
                    "not_image", "表格文件不是照片；若它是文件名与学号的对应清单，请作为“清单”单独提交",
                    "a spreadsheet is not a photo; submit a file→学号 manifest separately")]
            else:
                p.outcome, p.reasons = "skipped", [_reason(
                    "not_image", f"不是图片文件（{suffix or '无扩展名'}），已跳过", "not an image file, skipped")]
            continue
        m = matcher.match(item.name)
        if not m.ok:
            c.store.put(item.data)           # kept: a fixed roster or manifest can claim it later
            p.outcome, p.key_kind, p.xh = "unmatched", m.key_kind, m.xh
            p.reasons = [_reason(m.code or "unknown_key", m.message_zh or "无法匹配学生", m.message_en or "")]
            continue
        p.student_id, p.xh, p.key_kind, p.collect_code = m.student_id, m.xh, m.key_kind, m.collect_code
        if keep_all:
            c.store.put(item.data)
    return plans


def _existing(session: Session, pairs: set[tuple[int, str]]) -> dict[tuple[int, str], Photo]:
    """Photos already on record with the same bytes (original or spec) for the same student."""
    out: dict[tuple[int, str], Photo] = {}
    shas = sorted({sha for _, sha in pairs})
    for i in range(0, len(shas), 500):
        part = shas[i:i + 500]
        for ph in session.scalars(select(Photo).where(or_(Photo.original_sha256.in_(part), Photo.sha256.in_(part)))
                                  .order_by(Photo.version)):
            for sha in (ph.original_sha256, ph.sha256):
                if sha and (ph.student_id, sha) in pairs:
                    out.setdefault((ph.student_id, sha), ph)
    return out


def _plan_duplicates(session: Session, plans: list[_Plan], xh_of: dict[int, str]) -> None:
    """Bytes already on record, the same bytes under two names, two files for one student."""
    todo = [p for p in plans if p.to_check]
    known = _existing(session, {(p.student_id, p.sha256) for p in todo})
    for p in todo:
        ph = known.get((p.student_id, p.sha256))
        if ph is not None:
            p.outcome, p.photo_id = "skipped", ph.id
            p.reasons = [_reason("already_imported", f"与该学生已有的照片（第 {ph.version} 版，"
                                 f"状态：{_status_zh(ph.status)}）完全相同，未重复导入",
                                 "identical to a photo already on record for this student; not imported again")]
    by_sha: dict[str, list[_Plan]] = defaultdict(list)
    for p in plans:
        if p.to_check:
            by_sha[p.sha256].append(p)
    for group in by_sha.values():
        if len(group) < 2:
            continue
        if len({p.student_id for p in group}) == 1:
            first = group[0]
            for p in group[1:]:
                p.outcome = "skipped"
                p.reasons = [_reason("duplicate_bytes", f"与本次提交的 {first.name} 内容完全相同，未重复导入",
                                     f"same bytes as {first.name} in this archive; not imported twice")]
            continue
        names = _listed([f"{p.name}（{xh_of.get(p.student_id, '?')}）" for p in group])
        files = [q.name for q in group[:CONFLICT_NAMES]]
        for p in group:
            other = next(q for q in group if q.student_id != p.student_id)
            p.conflict = {"kind": ReviewKind.DUPLICATE_FILE.value, "other_student_id": other.student_id,
                          "files": files, "files_total": len(group),
                          "message_zh": f"同一张照片（内容完全相同）出现在不同学生名下：{names}，需人工确认"}
    by_student: dict[int, list[_Plan]] = defaultdict(list)
    for p in plans:
        if p.to_check:
            by_student[p.student_id].append(p)
    for group in by_student.values():
        if len(group) < 2:
            continue
        names = _listed([p.name for p in group])
        files = [q.name for q in group[:CONFLICT_NAMES]]
        for p in group:
            if p.conflict is None:
                p.conflict = {"kind": ReviewKind.MULTIPLE_FILES.value, "files": files, "files_total": len(group),
                              "message_zh": f"本次提交中该学生有 {len(group)} 个文件（{names}），请人工选定一张"}


def _status_zh(status: str | None) -> str:
    from ..i18n import STATUS_ZH  # noqa: PLC0415

    return STATUS_ZH.get(status, status or "")


def _apply_collect_codes(c: _Ctx, plans: list[_Plan], students: dict[int, Student]) -> int:
    """采集码 from the manifest, stored on the student verbatim (changes audited)."""
    n = 0
    for p in plans:
        if not p.collect_code or p.student_id is None:
            continue
        st = students[p.student_id]
        if st.collect_code == p.collect_code:
            continue
        audit.record(c.session, "student.collect_code", actor=c.actor, object_type="student", object_id=st.id,
                     term_id=st.term_id, xh=st.xh, old=st.collect_code, new=p.collect_code, source="intake_manifest",
                     intake_job=c.job.id)
        st.collect_code = p.collect_code
        st.collect_code_at = utcnow()
        n += 1
    c.session.flush()
    return n


# ---------------------------------------------------------------------------- recording
def _classify(plan: _Plan, prepared, student: Student, approved_ids: set[int]) -> tuple[str, str | None, list[dict]]:
    """``(outcome, photo status, reasons)`` for a checked file (see the module's table)."""
    conflict = plan.conflict
    if prepared.refusal is not None:           # → an unusable photo, kept with the reason
        r = prepared.refusal
        return "rejected", None, [_reason(r.get("code") or "refused", r.get("message_zh") or "",
                                          r.get("message_en") or "")]
    if prepared.verdict == "fail":
        return "rejected", PhotoStatus.REJECTED.value, _qc_reasons(prepared.report)
    if prepared.verdict == "warn" or conflict is not None:
        reasons = _qc_reasons(prepared.report, ("warn",))
        if conflict is not None:
            reasons.insert(0, _reason(conflict["kind"], conflict["message_zh"]))
        return "review", PhotoStatus.REVIEW.value, reasons
    if student.id in approved_ids:
        return "pending", PhotoStatus.PENDING.value, [_reason(
            "replace", "该学生已有通过的照片：新照片检查合格，等待管理员决定是否替换",
            "the student already has an approved photo; awaiting a decision to replace it")]
    return "approved", PhotoStatus.CAPTURED.value, []


def _record_chunk(c: _Ctx, done: list[tuple[_Plan, bytes, Any]], students: dict[int, Student],
                  approved_ids: set[int], post: dict[int, tuple | None]) -> None:
    """Record a chunk of checked files: photos in one batch (:func:`photos.record_many`),
    then their review items and intake rows, in archive order."""
    s = c.session
    outcomes: dict[int, tuple[str, list[dict]]] = {}
    # Withdrawn from the roster while the job ran (asked now: the loaded rows may be stale).
    sids = sorted({p.student_id for p, _, _ in done if p.student_id is not None})
    gone = set(s.scalars(select(Student.id).where(Student.id.in_(sids or [-1]), Student.withdrawn_at.is_not(None))))
    unmatched: dict[int, _Plan] = {}

    def plan_chunk() -> list[tuple[_Plan, str, list[dict], photos.NewPhoto]]:
        todo = []
        for plan, data, res in done:
            if isinstance(res, (bulk.ItemError, WorkerCrash)):
                c.store.put(data)                # kept, so nothing received is lost
                outcomes[plan.position] = ("error", [_reason(res.code, res.message_zh)])
                continue
            if plan.student_id in gone:
                c.store.put(data)                # kept, like any unmatched file
                m = withdrawn_match(plan.xh or students[plan.student_id].xh, plan.key_kind)
                outcomes[plan.position] = ("unmatched", [_reason(m.code, m.message_zh, m.message_en)])
                unmatched[plan.position] = dataclasses.replace(plan, student_id=None, collect_code=None)
                continue
            student = students[plan.student_id]
            outcome, status, reasons = _classify(plan, res, student, approved_ids)
            if outcome == "approved":
                approved_ids.add(student.id)     # a second file for them is "pending" from now on
            todo.append((plan, outcome, reasons, photos.NewPhoto(student, data, res, status=status,
                                                                 original_name=plan.name[:255],
                                                                 approve=outcome == "approved")))
        return todo

    before = set(approved_ids)
    todo = plan_chunk()
    try:
        recorded = photos.record_many(s, c.store, [t[3] for t in todo], source="intake", actor=c.actor,
                                      intake_job_id=c.job.id)
    except photos.PhotoError:
        # Someone approved one of these students meanwhile (the admin page): re-plan
        # with what the database says now; those files become "pending".
        approved_ids.clear()
        approved_ids.update(before | set(s.scalars(select(Photo.student_id).where(
            Photo.student_id.in_([p.student_id for p, _, _ in done if p.student_id is not None]),
            Photo.status == PhotoStatus.APPROVED.value))))
        todo = plan_chunk()
        recorded = photos.record_many(s, c.store, [t[3] for t in todo], source="intake", actor=c.actor,
                                      intake_job_id=c.job.id)
    photo_of: dict[int, Any] = {}
    for (plan, outcome, reasons, item), photo in zip(todo, recorded):
        photo_of[plan.position] = photo
        outcomes[plan.position] = (outcome, reasons)
        report = item.prepared.report
        if report is not None and report["identity_match"].status.value != "not_assessed":
            # Compared with the enrolment photo: keep the distance, open an identity item
            # on warn/fail (the same rule as at the station).
            identity.after_check(s, photo, report, c.actor)
        if outcome == "approved":
            post[photo.id] = _face_box(item.prepared.report) if photo.face_encoding is None else ()
        elif outcome in ("review", "pending"):
            conflict = plan.conflict
            kind = (conflict["kind"] if conflict is not None else
                    ReviewKind.QC_WARN.value if outcome == "review" else ReviewKind.REPLACE.value)
            other = photos.approved_photo(s, photo.student_id) if outcome == "pending" else None
            s.add(ReviewItem(term_id=item.student.term_id, kind=kind, student_id=photo.student_id, photo_id=photo.id,
                             other_student_id=(conflict or {}).get("other_student_id"),
                             other_photo_id=other.id if other is not None else None,
                             comment=reasons[0]["message_zh"] if reasons else None,
                             detail={"intake_job": c.job.id, "file": plan.name, "reasons": reasons,
                                     **({"files": conflict["files"], "files_total": conflict["files_total"]}
                                        if conflict else {})}))
    for plan, _, _ in done:
        outcome, reasons = outcomes[plan.position]
        photo = photo_of.get(plan.position)
        c.row(unmatched.get(plan.position, plan), outcome, reasons, photo_id=photo.id if photo is not None else None)


def _face_box(report) -> tuple[int, int, int, int] | None:
    try:
        faces = report.extra["geometry"]["faces"]
        return tuple(int(v) for v in faces[0]) if len(faces) == 1 else None
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------- the job
def run_job(session: Session, store: PhotoStore, job: IntakeJob, source: str | Path, *,
            manifest: Manifest | None = None, pool: WorkerPool | None = None, workers: int = 0,
            profile: str = "chsi_xueli_v1", commit: Callable[[], None] | None = None,
            on_progress: Callable[[IntakeJob], None] | None = None, chunk_size: int = 8,
            commit_every: int | None = None, limits: Limits = Limits(), post: bool = True) -> IntakeJob:
    """Process ``source`` (a ZIP file or a folder) for ``job``; returns the job, ``done``.

    ``commit`` is called every ``commit_every`` files (default: every 5 % of the
    archive, at least 1 and at most 100 files) and between phases (the CLI and the
    background runner pass ``session.commit``); without it everything is only flushed
    and the caller commits.  ``pool`` (or ``workers`` to make one) runs the
    checks; ``workers=0`` checks inline.  Raises :class:`IntakeError` when the archive
    as a whole cannot be read (the job is then marked failed).
    """
    # Photo files are written without per-file fsync and made durable with one sync
    # before each commit of the rows that refer to them (kiosk.store: 7 ms a photo saved).
    with store.deferred_sync():
        def durable_commit() -> None:
            store.sync()
            commit()

        return _run(session, store, job, source, manifest=manifest, pool=pool, workers=workers, profile=profile,
                    commit=durable_commit if commit is not None else None, on_progress=on_progress,
                    chunk_size=chunk_size, commit_every=commit_every, limits=limits, post=post)


def _start(session: Session, store: PhotoStore, job: IntakeJob, commit, on_progress,
           manifest: Manifest | None) -> _Ctx:
    """The job row goes ``running``/``scan`` (committed); audit ``intake.start``."""
    term = session.get(Term, job.term_id)
    unit = session.get(ImagingUnit, job.imaging_unit_id) if job.imaging_unit_id else None
    c = _Ctx(session, store, job, term, actor_label(unit), commit, on_progress, 100)
    job.status, job.phase = "running", "scan"
    job.started_at = job.heartbeat_at = utcnow()
    audit.record(session, "intake.start", actor=job.created_by_name or None, object_type="intake_job",
                 object_id=job.id, term_id=job.term_id, source=job.source_name, source_sha256=job.source_sha256,
                 unit=unit.name if unit else None, key=job.key, manifest=manifest.name if manifest else None)
    c.checkpoint()
    return c


def _scan_phase(c: _Ctx, source: str | Path, manifest: Manifest | None, limits: Limits, commit_every: int | None,
                keep_all: bool = False) -> tuple[list[_Plan], dict[int, Student], int]:
    """Phase 1 (both backends): read, match and plan every entry; record the entries
    decided without QC.  ``keep_all`` also puts every file to check into the store (the
    Celery backend's workers read them from there by hash)."""
    session, job = c.session, c.job
    matcher = Matcher(session, c.term, job.key, manifest)
    try:
        plans = _scan(c, source, matcher, limits, manifest, keep_all=keep_all)
    except ArchiveError as e:
        fail_job(session, job, e.code, e.message_zh)
        if c.commit is not None:
            c.commit()
        raise IntakeError(e.code, e.message_zh, e.message_en) from None
    sids = sorted({p.student_id for p in plans if p.student_id is not None})
    students: dict[int, Student] = {}
    for i in range(0, len(sids), 500):
        for st in session.scalars(select(Student).where(Student.id.in_(sids[i:i + 500]))):
            students[st.id] = st
    _plan_duplicates(session, plans, {sid: st.xh for sid, st in students.items()})
    codes_set = _apply_collect_codes(c, plans, students)
    job.total = len(plans)
    c.commit_every = max(1, commit_every or min(100, len(plans) // 20))
    for p in plans:                              # decided without QC: recorded now
        if not p.to_check:
            c.row(p, p.outcome)
    job.phase = "check"
    c.checkpoint()
    return plans, students, codes_set


def _manifest_summary(manifest: Manifest | None) -> dict | None:
    return None if manifest is None else {
        "name": manifest.name, "rows": len(manifest.rows), "issues": manifest.issues,
        "unused": [{"row": r.row, "file": r.file, "xh": r.xh} for r in manifest.unused()]}


def _run(session: Session, store: PhotoStore, job: IntakeJob, source: str | Path, *, manifest, pool, workers,
         profile, commit, on_progress, chunk_size, commit_every, limits, post) -> IntakeJob:
    t_start = time.perf_counter()
    c = _start(session, store, job, commit, on_progress, manifest)
    term = c.term
    plans, students, codes_set = _scan_phase(c, source, manifest, limits, commit_every)
    t_scan = time.perf_counter()

    # ------------------------------------------------------------------ check
    to_check = {p.position: p for p in plans if p.to_check}
    approved_ids = set(session.scalars(select(Photo.student_id).where(
        Photo.status == PhotoStatus.APPROVED.value, Photo.student_id.in_(list(students) or [-1]))))
    post_items: dict[int, tuple | None] = {}
    changed: list[_Plan] = []
    seen: set[int] = set()

    def items():
        for pos, item in enumerate(read_archive(source, limits)):
            p = to_check.get(pos)
            if p is None or not isinstance(item, Entry):
                continue
            seen.add(pos)
            if hashlib.sha256(item.data).hexdigest() != p.sha256:
                changed.append(p)
                continue
            yield bulk.CheckItem(pos, item.data, reference_for(students[p.student_id]))

    def chunks():
        buf: list = []
        for it in items():
            buf.append(it)
            if len(buf) >= chunk_size:
                yield buf
                buf = []
        if buf:
            yield buf

    own_pool = pool is None
    pool = pool or WorkerPool(workers, bulk.init_worker, (profile,))
    worker_ms: Counter = Counter()
    try:
        fn = functools.partial(bulk.check_chunk, profile=profile)
        try:
            for chunk, results in pool.map_chunks(fn, chunks()):
                for res in results:
                    for k, v in (getattr(res, "timings_ms", None) or {}).items():
                        worker_ms[k] += v
                _record_chunk(c, [(to_check[it.key], it.data, res) for it, res in zip(chunk, results)], students,
                              approved_ids, post_items)
        except ArchiveError as e:                # the source vanished between the passes
            fail_job(session, job, e.code, e.message_zh)
            if commit is not None:
                commit()
            raise IntakeError(e.code, e.message_zh, e.message_en) from None
        for p in changed:
            c.row(p, "error", [_reason("changed", "文件在处理过程中被修改，未导入；请重新提交",
                                       "the file changed while the job ran; not imported")])
        for pos, p in to_check.items():
            if pos not in seen:
                c.row(p, "error", [_reason("vanished", "文件在处理过程中消失，未导入；请重新提交",
                                           "the file disappeared while the job ran; not imported")])
        t_check = time.perf_counter()
        job.phase = "post"
        job.post_total = len(post_items) if post else 0
        c.checkpoint()

        # -------------------------------------------------------------- post-approval
        hook_errors: list[dict] = []
        if post and post_items:
            _post_phase(c, pool, post_items, hook_errors)
        t_post = time.perf_counter()
    finally:
        if own_pool:
            pool.close()

    # ------------------------------------------------------------------ finish
    job.phase = "finish"
    session.flush()
    counts = Counter(dict(session.execute(select(IntakeFile.outcome, func.count()).where(
        IntakeFile.job_id == job.id).group_by(IntakeFile.outcome)).all()))
    missing = len(missing_students(session, term))
    n_checked = len(to_check)
    job.summary = {
        "outcomes": {o: int(counts.get(o, 0)) for o in OUTCOMES},
        "missing": missing,
        "key_kinds": dict(Counter(p.key_kind for p in plans if p.key_kind and p.student_id is not None)),
        "collect_codes_set": codes_set,
        "manifest": _manifest_summary(manifest),
        "hook_errors": hook_errors,
        "workers": pool.workers, "pool_restarts": pool.restarts,
        "timings": {"scan_s": round(t_scan - t_start, 3), "check_s": round(t_check - t_scan, 3),
                    "post_s": round(t_post - t_check, 3), "total_s": round(time.perf_counter() - t_start, 3),
                    "checked": n_checked, "post_photos": job.post_total,
                    "worker_ms": {k: round(v, 1) for k, v in worker_ms.items()}},
    }
    job.status, job.phase = "done", ""
    job.processed = c.written
    job.finished_at = job.heartbeat_at = utcnow()
    audit.record(session, "intake.finish", actor=job.created_by_name or None, object_type="intake_job",
                 object_id=job.id, term_id=job.term_id, outcomes=job.summary["outcomes"], missing=missing,
                 seconds=job.summary["timings"]["total_s"])
    session.flush()
    if commit is not None:
        commit()
    if on_progress is not None:
        on_progress(job)
    return job


def _post_phase(c: _Ctx, pool: WorkerPool, post_items: dict[int, tuple | None], hook_errors: list[dict]) -> None:
    """Encodings for the photos this job approved, then the ``on_approved`` hooks."""
    s = c.session
    ids = sorted(post_items)
    need = [pid for pid in ids if post_items[pid] != ()]
    done = 0

    def run_hooks(photo: Photo) -> None:
        if photo.status != PhotoStatus.APPROVED.value:
            return
        for hook in list(photos.on_approved):
            try:
                with s.begin_nested():
                    hook(s, photo, c.actor)
            except Exception as e:  # noqa: BLE001 - one hook's failure must not undo the job
                hook_errors.append({"photo_id": photo.id, "hook": getattr(hook, "__name__", str(hook)),
                                    "error": f"{type(e).__name__}: {e}"[:300]})

    def progress(n: int) -> None:
        nonlocal done
        done += n
        c.job.post_done = done
        c.job.heartbeat_at = utcnow()
        s.flush()
        if c.commit is not None:
            c.commit()
        if c.on_progress is not None:
            c.on_progress(c.job)

    # The duplicate search runs once, blockwise, for every photo of the job when the
    # block ends (instead of one search against all approved photos per approval).
    with duplicates.deferred(s, c.actor, source="intake"):
        _post_hooks(c, pool, post_items, ids, need, run_hooks, progress)


def _post_hooks(c: _Ctx, pool: WorkerPool, post_items, ids, need, run_hooks, progress) -> None:
    s = c.session
    for pid in [p for p in ids if post_items[p] == ()]:          # encodings already stored
        run_hooks(s.get(Photo, pid))
    if len(ids) != len(need):
        progress(len(ids) - len(need))

    def chunks():
        for i in range(0, len(need), 8):
            part = []
            for pid in need[i:i + 8]:
                ph = s.get(Photo, pid)
                part.append(bulk.EncodeItem(pid, c.store.get(ph.sha256), post_items[pid]))
            yield part

    pending = 0
    for chunk, results in pool.map_chunks(bulk.encode_chunk, chunks()):
        for it, enc in zip(chunk, results):
            ph = s.get(Photo, it.key)
            if isinstance(enc, bulk.FaceData):
                ph.face_encoding = photos.encoding_bytes(enc.encoding)
                ph.phash = enc.phash
            run_hooks(ph)
            pending += 1
        if pending >= c.commit_every:
            progress(pending)
            pending = 0
    if pending:
        progress(pending)


# ---------------------------------------------------------------------------- Celery backend
# The same phases, spread over processes that share only the database and the photo
# store: the submitter scans (every file to check goes into the content-addressed
# store) and queues check chunks; any worker checks a chunk and records it in one
# transaction; the worker that records the last file queues the finish (post phase
# and report).  Everything a task needs travels as plain data or lives in the
# database, and every step can run twice without recording anything twice.
def plan_dict(p: _Plan) -> dict:
    return dataclasses.asdict(p)


def start_distributed(session: Session, store: PhotoStore, job: IntakeJob, source: str | Path, *,
                      manifest: Manifest | None = None, commit: Callable[[], None],
                      on_progress: Callable[[IntakeJob], None] | None = None, chunk_size: int = 8,
                      limits: Limits = Limits()) -> list[list[dict]]:
    """Phase 1 for the Celery backend (in the submitting process): scan, record the
    files decided without QC, put every file to check into the store, and return the
    check chunks — the tasks' arguments.  Committed (the store synced first)."""
    t0 = time.perf_counter()
    with store.deferred_sync():
        def durable_commit() -> None:
            store.sync()
            commit()

        c = _start(session, store, job, durable_commit, on_progress, manifest)
        plans, _students, codes_set = _scan_phase(c, source, manifest, limits, None, keep_all=True)
        todo = [plan_dict(p) for p in plans if p.to_check]
        chunks = [todo[i:i + max(1, chunk_size)] for i in range(0, len(todo), max(1, chunk_size))]
        job.summary = {"scan": {"collect_codes_set": codes_set, "manifest": _manifest_summary(manifest),
                                "scan_s": round(time.perf_counter() - t0, 3), "checked": len(todo),
                                "chunks": len(chunks), "check_started": utcnow().isoformat()}}
        job.processed = c.written
        session.flush()
        durable_commit()
    return chunks


def _recorded_positions(session: Session, job_id: int, positions: list[int]) -> set[int]:
    return set(session.scalars(select(IntakeFile.position).where(IntakeFile.job_id == job_id,
                                                                  IntakeFile.position.in_(positions or [-1]))))


def _students_of(session: Session, plans: list[_Plan]) -> dict[int, Student]:
    sids = sorted({p.student_id for p in plans if p.student_id is not None})
    return {st.id: st for st in session.scalars(select(Student).where(Student.id.in_(sids or [-1])))}


def load_chunk(session: Session, store: PhotoStore, job_id: int, chunk: list[dict]
               ) -> tuple[list[_Plan], list[bulk.CheckItem], list[tuple[_Plan, StoreError]]] | None:
    """What a worker checks of ``chunk``: the files not yet recorded (a chunk delivered
    again skips what the first delivery recorded), their bytes read from the store by
    hash and verified, and the enrolment encodings.  ``None`` when the job is no longer
    running (failed meanwhile).  Read-only."""
    job = session.get(IntakeJob, job_id)
    if job is None or job.status != "running":
        return None
    done = _recorded_positions(session, job_id, [d["position"] for d in chunk])
    todo = [_Plan(**d) for d in chunk if d["position"] not in done]
    students = _students_of(session, todo)
    items, bad = [], []
    for p in todo:
        try:
            data = store.get_verified(p.sha256)
        except StoreError as e:
            bad.append((p, e))
            continue
        items.append(bulk.CheckItem(p.position, data, reference_for(students[p.student_id])))
    return todo, items, bad


def _store_reason(e: StoreError) -> dict:
    if e.code == "store_missing":
        return _reason("store_missing", f"照片存储中找不到该文件（SHA-256 {e.sha256}），未导入；请检查共享存储后重新提交",
                       f"the file is not in the photo store (SHA-256 {e.sha256}); not imported")
    return _reason(e.code, f"{e.message_zh}；未导入，请检查共享存储后重新提交",
                   f"the stored copy of {e.sha256} does not match its hash; not imported")


def _distributed_ctx(session: Session, store: PhotoStore, job: IntakeJob) -> _Ctx:
    term = session.get(Term, job.term_id)
    unit = session.get(ImagingUnit, job.imaging_unit_id) if job.imaging_unit_id else None
    # commit_every "never": the task commits once, after the whole chunk.
    return _Ctx(session, store, job, term, actor_label(unit), None, None, 1 << 30)


def _count_progress(session: Session, job_id: int, n: int) -> None:
    """Atomic ``processed += n`` (several workers record chunks of one job at once)."""
    if n:
        session.execute(update(IntakeJob).where(IntakeJob.id == job_id).values(
            processed=IntakeJob.processed + n, heartbeat_at=utcnow()))


def record_checked(session: Session, store: PhotoStore, job_id: int, todo: list[_Plan],
                   items: list[bulk.CheckItem], results: list, bad: list[tuple[_Plan, StoreError]]
                   ) -> dict[int, tuple | None] | None:
    """Record a checked chunk (flushed; the caller commits once).  Files another
    delivery recorded meanwhile are left alone; the unique ``(job_id, position)`` index
    fails the transaction if one slips through, so nothing is recorded twice.  Returns
    ``{photo_id: face box}`` of the photos approved now that need an encoding, or
    ``None`` when the job is no longer running."""
    job = session.get(IntakeJob, job_id)
    if job is None or job.status != "running":
        return None
    done = _recorded_positions(session, job_id, [p.position for p in todo])
    by_pos = {p.position: p for p in todo}
    checked = [(by_pos[it.key], it.data, res) for it, res in zip(items, results) if it.key not in done]
    c = _distributed_ctx(session, store, job)
    students = _students_of(session, [p for p, _, _ in checked])
    approved_ids = set(session.scalars(select(Photo.student_id).where(
        Photo.status == PhotoStatus.APPROVED.value, Photo.student_id.in_(list(students) or [-1]))))
    post: dict[int, tuple | None] = {}
    if checked:
        _record_chunk(c, checked, students, approved_ids, post)
    for p, e in bad:
        if p.position not in done:
            c.row(p, "error", [_store_reason(e)])
    session.flush()
    _count_progress(session, job_id, c.written)
    return {pid: box for pid, box in post.items() if box != ()}


def record_failed_chunk(session: Session, job_id: int, chunk: list[dict], code: str, message_zh: str) -> int:
    """A chunk that cannot be checked (its task failed for good): its unrecorded files
    become ``error`` rows, so the job still ends with one outcome per file."""
    job = session.get(IntakeJob, job_id)
    if job is None or job.status != "running":
        return 0
    done = _recorded_positions(session, job_id, [d["position"] for d in chunk])
    c = _distributed_ctx(session, PhotoStore("."), job)
    for d in chunk:
        if d["position"] not in done:
            c.row(_Plan(**d), "error", [_reason(code, message_zh)])
    session.flush()
    _count_progress(session, job_id, c.written)
    return c.written


def encode_approved(session: Session, store: PhotoStore, boxes: dict[int, tuple | None]) -> int:
    """Face encodings for photos a chunk approved (skipped when one is stored already:
    the chunk ran twice, or the finish got there first).  Flushed."""
    n = 0
    items = []
    for pid in sorted(boxes):
        ph = session.get(Photo, pid)
        if ph is not None and ph.face_encoding is None:
            items.append(bulk.EncodeItem(pid, store.get_verified(ph.sha256), boxes[pid]))
    for it, enc in zip(items, bulk.encode_chunk(items)):
        if isinstance(enc, bulk.FaceData):
            ph = session.get(Photo, it.key)
            ph.face_encoding = photos.encoding_bytes(enc.encoding)
            ph.phash = enc.phash
            n += 1
    session.flush()
    return n


def all_recorded(session: Session, job_id: int) -> bool:
    """Every file of a running job has its row (time for the finish)."""
    job = session.get(IntakeJob, job_id)
    if job is None or job.status != "running":
        return False
    n = session.scalar(select(func.count()).select_from(IntakeFile).where(IntakeFile.job_id == job_id))
    return n >= job.total


def finish_distributed(session: Session, store: PhotoStore, job_id: int) -> IntakeJob | None:
    """Post phase and report once every file is recorded (flushed; one transaction with
    the job row locked, so two finishes of one job run one after the other and the
    second finds it done).  ``None`` when there is nothing to do (yet)."""
    job = session.scalar(select(IntakeJob).where(IntakeJob.id == job_id).with_for_update())
    if job is None or job.status != "running":
        return None
    if not all_recorded(session, job_id):
        return None
    t_post0 = time.perf_counter()
    scan = dict((job.summary or {}).get("scan") or {})
    c = _distributed_ctx(session, store, job)
    job.phase = "post"
    approved = session.scalars(select(Photo).join(IntakeFile, IntakeFile.photo_id == Photo.id).where(
        IntakeFile.job_id == job_id, IntakeFile.outcome == "approved").order_by(Photo.id)).all()
    post_items = {ph.id: (() if ph.face_encoding is not None else None) for ph in approved}
    job.post_total = len(post_items)
    hook_errors: list[dict] = []
    if post_items:
        _post_phase(c, WorkerPool(0), post_items, hook_errors)
    t_post = time.perf_counter() - t_post0
    job.phase = "finish"
    session.flush()
    counts = Counter(dict(session.execute(select(IntakeFile.outcome, func.count()).where(
        IntakeFile.job_id == job_id).group_by(IntakeFile.outcome)).all()))
    key_kinds = Counter(dict(session.execute(select(IntakeFile.key_kind, func.count()).where(
        IntakeFile.job_id == job_id, IntakeFile.key_kind.is_not(None), IntakeFile.student_id.is_not(None))
        .group_by(IntakeFile.key_kind)).all()))
    missing = len(missing_students(session, c.term))
    now = utcnow()
    try:
        check_s = (now - dt.datetime.fromisoformat(scan.get("check_started"))).total_seconds() - t_post
    except (TypeError, ValueError):
        check_s = 0.0
    total_s = (now - (job.started_at or now)).total_seconds()
    job.summary = {
        "outcomes": {o: int(counts.get(o, 0)) for o in OUTCOMES},
        "missing": missing,
        "key_kinds": dict(key_kinds),
        "collect_codes_set": scan.get("collect_codes_set", 0),
        "manifest": scan.get("manifest"),
        "hook_errors": hook_errors,
        "backend": "celery", "chunks": scan.get("chunks", 0),
        "timings": {"scan_s": scan.get("scan_s", 0.0), "check_s": round(max(0.0, check_s), 3),
                    "post_s": round(t_post, 3), "total_s": round(total_s, 3), "checked": scan.get("checked", 0),
                    "post_photos": job.post_total, "worker_ms": {}},
    }
    job.status, job.phase = "done", ""
    job.processed = sum(counts.values())
    job.finished_at = job.heartbeat_at = now
    audit.record(session, "intake.finish", actor=job.created_by_name or None, object_type="intake_job",
                 object_id=job.id, term_id=job.term_id, outcomes=job.summary["outcomes"], missing=missing,
                 seconds=job.summary["timings"]["total_s"])
    session.flush()
    return job


# ---------------------------------------------------------------------------- queries
def missing_students(session: Session, term: Term) -> list[Student]:
    """Students of ``term`` with no approved photo (the reconciliation), by 学号; students
    withdrawn from the roster are not missing anything."""
    has = select(Photo.student_id).where(Photo.status == PhotoStatus.APPROVED.value)
    return list(session.scalars(select(Student).where(Student.term_id == term.id, Student.withdrawn_at.is_(None),
                                                      Student.id.not_in(has)).order_by(Student.xh)))


def job_files(session: Session, job: IntakeJob) -> list[IntakeFile]:
    return list(session.scalars(select(IntakeFile).where(IntakeFile.job_id == job.id)
                                .order_by(IntakeFile.position, IntakeFile.id)))


def outcome_counts(job: IntakeJob) -> dict[str, int]:
    return dict((job.summary or {}).get("outcomes") or {})


def exit_code(job: IntakeJob) -> int:
    """0: nothing to fix; 1: some file was rejected, unmatched or failed."""
    counts = outcome_counts(job)
    return 1 if any(counts.get(o) for o in PROBLEM_OUTCOMES) else 0
