"""Upload batches: choose the approved photos to deliver, write the ZIP, record it.

Selection (:func:`plan_batch`) for a term, a kind (``unit`` = the imaging unit's channel
to CHSI, ``school`` = the school's 教务系统) and optionally an org unit and its
descendants: every student's *approved* photo that was not yet delivered through that
channel.  A student whose earlier photo was delivered and who has a newer approved one
is delivered again (listed as a replacement); an approved photo already delivered never
is.  Held back, each with a reason:

* students withdrawn from the term's roster (``Student.withdrawn_at``): no longer
  graduates of this term, so their photo is never delivered;
* ``unit`` batches: students without a 图像采集码 (CHSI keys the upload by it);
* students with an open duplicate review item (``duplicate_face``/``duplicate_file``,
  either side of the pair) until someone resolves it.

Writing (:func:`build_batch`): every photo is verified against its SHA-256 first (any
mismatch refuses the whole batch, naming the students); the ZIP is written to a
temporary file, fsynced and renamed; then the batch, its items (photo versions and the
manifest rows as written) and an audit entry are added and committed together.  If the
commit fails the ZIP is removed; if the process dies before it, nothing is recorded and
no final ZIP exists (only a ``.partial-*`` temporary file may be left).
"""
from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from upload.batch import BatchBuildError, BatchInfo, arcname, parse_grouping, write_batch
from upload.manifest import ManifestRow
from upload.zipdet import PARTIAL_PREFIX, atomic_output, file_sha256

from ..db import lock_rows
from ..models import (Batch, BatchItem, OrgUnit, Photo, PhotoStatus, ReviewItem, ReviewKind, Student, Term,
                      User, utcnow)
from ..store import PhotoStore
from . import audit
from .orgs import unit_and_descendant_ids

KINDS = ("unit", "school")
NAMINGS = ("xh", "sfzh")
HOLD_KINDS = (ReviewKind.DUPLICATE_FACE.value, ReviewKind.DUPLICATE_FILE.value)
REASONS = {
    "withdrawn": "学生已从本期名单撤销，不交付",
    "no_collect_code": "缺少图像采集码（学生须在学信网获取并在采集时扫码）",
    "duplicate_hold": "疑似同一人或同一照片用于两个学号，待复核后再交付",
}
#: Test-only: seconds to sleep after each ZIP entry (lets a test kill a build midway).
PAUSE_ENV = "KIOSK_TEST_BATCH_PAUSE"


class BatchError(Exception):
    """A batch that cannot be built or served; ``code`` is stable, ``message`` Chinese."""

    def __init__(self, code: str, message: str, *, excluded: list[dict] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.excluded = excluded or []


@dataclass
class PlanItem:
    student: Student
    photo: Photo
    row: ManifestRow
    replaces: bool = False


@dataclass
class Plan:
    term: Term
    kind: str
    unit: OrgUnit | None
    naming: str
    grouping: tuple[str, ...]
    items: list[PlanItem] = field(default_factory=list)
    excluded: list[dict[str, str]] = field(default_factory=list)   # {"xh", "code", "reason"}

    @property
    def scope_label(self) -> str:
        return self.unit.name if self.unit is not None else "全部"


def _fmt(t: dt.datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else ""


def validate_options(kind: str, naming: str, grouping) -> tuple[str, ...]:
    """Check the options of a batch; returns the grouping as manifest fields."""
    if kind not in KINDS:
        raise BatchError("kind", f"未知的批次类型：{kind}（可用：unit、school）")
    if naming not in NAMINGS:
        raise BatchError("naming", f"未知的命名方式：{naming}（可用：xh、sfzh）")
    try:
        return parse_grouping(grouping)
    except BatchBuildError as e:
        raise BatchError(e.code, e.message) from None


def held_student_ids(session: Session, term_id: int) -> set[int]:
    """Students held out of batches by an open duplicate review item (either side)."""
    rows = session.execute(select(ReviewItem.student_id, ReviewItem.other_student_id).where(
        ReviewItem.term_id == term_id, ReviewItem.status == "open", ReviewItem.kind.in_(HOLD_KINDS)))
    out: set[int] = set()
    for a, b in rows:
        out.add(a)
        if b is not None:
            out.add(b)
    return out


def manifest_row(student: Student, photo: Photo, units: dict[int, OrgUnit], *, naming: str,
                 grouping: tuple[str, ...]) -> ManifestRow:
    centre = units.get(student.centre_id) if student.centre_id else None
    branch = units.get(centre.parent_id) if centre is not None and centre.parent_id else None
    if centre is not None and centre.kind == "branch":      # a student registered at a branch itself
        centre, branch = None, centre
    values = {"branch": branch.name if branch else "", "centre": centre.name if centre else "",
              "level": student.level or "", "major": student.major or ""}
    rep = photo.latest_report
    profile = f"{rep.profile} {rep.profile_version}" if rep is not None else (photo.profile or "")
    verdict = (photo.qc_verdict or "") + (" override" if photo.override else "")
    station = photo.station.name if photo.station is not None else ("批量导入" if photo.source == "intake" else "")
    try:
        name = arcname(xh=student.xh, id_number=student.id_number, naming=naming, groups=values, grouping=grouping)
    except BatchBuildError as e:
        raise BatchError(e.code, f"学号 {student.xh}：{e.message}") from None
    return ManifestRow(
        arcname=name, xh=student.xh, name=student.name, gender=student.gender or "",
        id_number=(student.id_number or "").upper(), level=values["level"], major=values["major"],
        branch=values["branch"], centre=values["centre"], class_name=student.class_name or "",
        collect_code=student.collect_code or "", captured_at=_fmt(photo.captured_at), station=station,
        operator=photo.operator.username if photo.operator is not None else "", qc_verdict=verdict,
        profile=profile, sha256=photo.sha256 or "")


def plan_batch(session: Session, term: Term, *, kind: str = "unit", unit: OrgUnit | None = None,
               naming: str = "xh", grouping=None) -> Plan:
    """What a batch would contain now (reads only)."""
    groups = validate_options(kind, naming, grouping)
    plan = Plan(term=term, kind=kind, unit=unit, naming=naming, grouping=groups)
    stmt = (select(Student, Photo).join(Photo, Photo.student_id == Student.id)
            .where(Student.term_id == term.id, Photo.status == PhotoStatus.APPROVED.value)
            .options(selectinload(Photo.reports), selectinload(Photo.station), selectinload(Photo.operator))
            .order_by(Student.xh))
    if unit is not None:
        stmt = stmt.where(Student.centre_id.in_(unit_and_descendant_ids(session, unit.id)))
    pairs = session.execute(stmt).all()
    if not pairs:
        return plan
    delivered = {pid: sid for pid, sid in session.execute(
        select(BatchItem.photo_id, BatchItem.student_id).join(Student, Student.id == BatchItem.student_id)
        .where(BatchItem.kind == kind, Student.term_id == term.id))}
    delivered_students = set(delivered.values())
    held = held_student_ids(session, term.id)
    units = {u.id: u for u in session.scalars(select(OrgUnit))}
    for student, photo in pairs:
        if photo.id in delivered:
            continue
        if student.withdrawn_at is not None:
            plan.excluded.append({"xh": student.xh, "code": "withdrawn", "reason": REASONS["withdrawn"]})
            continue
        if kind == "unit" and not (student.collect_code or "").strip():
            plan.excluded.append({"xh": student.xh, "code": "no_collect_code", "reason": REASONS["no_collect_code"]})
            continue
        if student.id in held:
            plan.excluded.append({"xh": student.xh, "code": "duplicate_hold", "reason": REASONS["duplicate_hold"]})
            continue
        if not photo.sha256:
            continue   # approved photos always have a spec file; be safe anyway
        row = manifest_row(student, photo, units, naming=naming, grouping=groups)
        plan.items.append(PlanItem(student, photo, row, replaces=student.id in delivered_students))
    return plan


def _actor_name(actor: User | str | None) -> str:
    if isinstance(actor, User):
        return actor.username
    return actor or "system"


def _reservation(out_dir: Path, zip_name: str) -> Path:
    return out_dir / f"{PARTIAL_PREFIX}{zip_name}.tmp"


def _unique_zip_name(session: Session, out_dir: Path, label: str) -> tuple[str, str]:
    """A ZIP name no batch and no file in ``out_dir`` has, reserved by creating its
    ``.partial-<name>.tmp`` marker exclusively: a build running at the same time would
    otherwise pick the same name in the same second and replace this one's ZIP.  The
    caller removes the marker; one left by a killed build is swept like its temp file."""
    n = 1
    cand = label
    while True:
        name = f"{cand}.zip"
        if (session.scalar(select(Batch.id).where(Batch.zip_name == name)) is None
                and not (out_dir / name).exists()):
            try:
                os.close(os.open(_reservation(out_dir, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                return cand, name
            except FileExistsError:
                pass
        n += 1
        cand = f"{label}-{n}"


def _lock_and_recheck(session: Session, plan: Plan, kind: str) -> None:
    """Under a lock, check nothing changed since the plan: no planned photo delivered
    through this channel by another build, every one still approved, no student of it
    withdrawn from the roster.

    PostgreSQL: the term row is locked (two builds of a term record one after the
    other) and the planned photos and their students are share-locked, so the photos
    cannot be superseded or withdrawn, nor the students taken off the roster, before
    this batch commits.  SQLite: the write lock is taken now."""
    ids = [it.photo.id for it in plan.items]
    sids = [it.student.id for it in plan.items]
    lock_rows(session, Term, [plan.term.id])
    # Students before photos: approving, rejecting and withdrawing photos lock the
    # student row first and then write the photo, so the other order could deadlock.
    lock_rows(session, Student, sids, shared=True)
    lock_rows(session, Photo, ids, shared=True)
    taken: set[int] = set()
    still: set[int] = set()
    gone: set[int] = set()
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        taken.update(session.scalars(select(BatchItem.photo_id).where(BatchItem.kind == kind,
                                                                      BatchItem.photo_id.in_(part))))
        still.update(session.scalars(select(Photo.id).where(Photo.id.in_(part),
                                                            Photo.status == PhotoStatus.APPROVED.value)))
        gone.update(session.scalars(select(Student.id).where(Student.id.in_(sids[i:i + 500]),
                                                             Student.withdrawn_at.is_not(None))))
    if gone:
        xhs = sorted(it.student.xh for it in plan.items if it.student.id in gone)
        raise BatchError("withdrawn", f"生成期间有 {len(xhs)} 名学生已从本期名单撤销（学号：{'、'.join(xhs[:10])}"
                                      f"{' 等' if len(xhs) > 10 else ''}），本批次未记录，请重新生成")
    if taken:
        raise BatchError("conflict", f"另一个批次刚刚交付了其中 {len(taken)} 张照片（同时生成了两个批次），"
                                     "本批次未记录，请刷新后重新生成")
    changed = len(ids) - len(still)
    if changed:
        raise BatchError("changed", f"生成期间有 {changed} 张照片的状态发生变化（被替换或撤回），本批次未记录，请重新生成")


def sweep_partials(out_dir: Path, older_than_hours: float = 12) -> list[Path]:
    """Remove temporary files left by builds that died (a killed process cannot clean up
    after itself); only ones old enough that no build can still be writing them."""
    cutoff = time.time() - older_than_hours * 3600
    gone = []
    for p in out_dir.glob(f"{PARTIAL_PREFIX}*.tmp"):
        try:
            if p.stat().st_mtime < cutoff:
                p.unlink()
                gone.append(p)
        except FileNotFoundError:
            pass
    return gone


def _progress_hook(on_progress: Callable[[int, int, str], None] | None):
    pause = float(os.environ.get(PAUSE_ENV) or 0)

    def hook(done: int, total: int, name: str) -> None:
        if on_progress is not None:
            on_progress(done, total, name)
        if pause > 0:
            time.sleep(pause)

    return hook if (pause > 0 or on_progress is not None) else None


def build_batch(session: Session, store: PhotoStore, term: Term, *, out_dir: str | os.PathLike,
                kind: str = "unit", unit: OrgUnit | None = None, naming: str = "xh", grouping=None,
                actor: User | str | None = None, school: str = "", ip: str | None = None,
                commit: Callable[[], None] | None = None,
                on_progress: Callable[[int, int, str], None] | None = None) -> tuple[Batch, Plan]:
    """Plan, verify, write the ZIP atomically into ``out_dir`` and record the batch.

    ``commit`` (normally ``session.commit``) is called once the records are flushed; if
    it raises, the ZIP is removed again, so a file exists exactly when its record does.
    Raises :class:`BatchError` (``empty``, ``hash_mismatch``, ``kind``, ``naming``,
    ``group``, ``name``; ``conflict`` when another build delivered some of the same
    photos meanwhile, ``changed`` when a planned photo was superseded or withdrawn
    during the build, ``withdrawn`` when a planned student was taken off the roster
    during the build) without recording anything or leaving a ZIP.
    """
    plan = plan_batch(session, term, kind=kind, unit=unit, naming=naming, grouping=grouping)
    if not plan.items:
        raise BatchError("empty", "没有可交付的新照片（已通过且尚未交付的照片为 0）", excluded=plan.excluded)
    bad = [it.student.xh for it in plan.items if not store.verify(it.row.sha256)]
    if bad:
        raise BatchError("hash_mismatch",
                         f"{len(bad)} 张照片的存储文件缺失或与记录的 SHA-256 不一致（学号：{'、'.join(bad[:10])}"
                         f"{' 等' if len(bad) > 10 else ''}），未生成批次，请联系管理员检查照片存储")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sweep_partials(out)
    created = utcnow().replace(microsecond=0)
    label = f"{term.code}-{'U' if kind == 'unit' else 'S'}-{created:%Y%m%d-%H%M%S}"
    label, zip_name = _unique_zip_name(session, out, label)
    try:
        return _write_and_record(session, store, plan, out, label, zip_name, created, kind=kind, unit=unit,
                                 naming=naming, actor=actor, school=school, ip=ip, commit=commit,
                                 on_progress=on_progress)
    finally:
        _reservation(out, zip_name).unlink(missing_ok=True)


def _write_and_record(session: Session, store: PhotoStore, plan: Plan, out: Path, label: str, zip_name: str,
                      created: dt.datetime, *, kind: str, unit: OrgUnit | None, naming: str,
                      actor: User | str | None, school: str, ip: str | None, commit: Callable[[], None] | None,
                      on_progress: Callable[[int, int, str], None] | None) -> tuple[Batch, Plan]:
    term = plan.term
    info = BatchInfo(label=label, school=school, term_code=term.code, term_name=term.name, kind=kind,
                     scope=plan.scope_label, naming=naming, grouping=plan.grouping, created_at=_fmt(created),
                     created_by=_actor_name(actor),
                     excluded=tuple((e["xh"], e["reason"]) for e in plan.excluded),
                     replaced=tuple(it.student.xh for it in plan.items if it.replaces))
    path = out / zip_name
    try:
        with atomic_output(path) as f:
            write_batch(f, info, [it.row for it in plan.items], store.get, on_entry=_progress_hook(on_progress))
    except BatchBuildError as e:
        raise BatchError(e.code, e.message) from None
    try:
        _lock_and_recheck(session, plan, kind)
        batch = Batch(term_id=term.id, kind=kind, org_unit_id=unit.id if unit is not None else None,
                      naming=naming, grouping=list(plan.grouping),
                      created_by_id=actor.id if isinstance(actor, User) else None,
                      created_by_name=_actor_name(actor), created_at=created, zip_name=zip_name,
                      zip_sha256=file_sha256(path), zip_size=path.stat().st_size, photo_count=len(plan.items),
                      excluded=plan.excluded, summary=info.to_dict(), zip_path=str(path.resolve()))
        session.add(batch)
        session.flush()
        session.add_all([BatchItem(batch_id=batch.id, photo_id=it.photo.id, student_id=it.student.id,
                                   arcname=it.row.arcname, sha256=it.row.sha256, kind=kind, row=it.row.to_dict())
                         for it in plan.items])
        session.flush()
        audit.record(session, "batch.build", actor=actor, object_type="batch", object_id=batch.id,
                     term_id=term.id, ip=ip, kind=kind, unit=plan.scope_label, naming=naming,
                     grouping=list(plan.grouping), zip=zip_name, zip_sha256=batch.zip_sha256,
                     photos=len(plan.items), photo_ids=[it.photo.id for it in plan.items],
                     excluded=len(plan.excluded), replaced=list(info.replaced))
        if commit is not None:
            commit()
    except IntegrityError:
        # The database's own guard (unique kind + photo): the same photo in two batches
        # of one channel.  The locks above make this unreachable; if it is reached
        # anyway it is the same conflict, not a crash.
        path.unlink(missing_ok=True)
        session.rollback()
        raise BatchError("conflict", "另一个批次同时交付了其中的照片，本批次未记录，请刷新后重新生成") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return batch, plan


def rebuild(session: Session, store: PhotoStore, batch: Batch, fileobj: BinaryIO) -> None:
    """Write the recorded batch again from its stored rows (the same bytes)."""
    items = session.scalars(select(BatchItem).where(BatchItem.batch_id == batch.id)).all()
    rows = [ManifestRow.from_dict(i.row) for i in items]
    try:
        write_batch(fileobj, BatchInfo.from_dict(batch.summary), rows, store.get)
    except BatchBuildError as e:
        raise BatchError(e.code, e.message) from None


def zip_file(session: Session, store: PhotoStore, batch: Batch, export_dir: str | os.PathLike) -> Path:
    """The batch's ZIP on disk, checked against the recorded hash: the file as written
    when it is still there and intact, else rebuilt into ``export_dir`` (and verified)."""
    if batch.zip_path and Path(batch.zip_path).is_file() and file_sha256(batch.zip_path) == batch.zip_sha256:
        return Path(batch.zip_path)
    path = Path(export_dir) / "batches" / batch.zip_name
    if path.is_file() and file_sha256(path) == batch.zip_sha256:
        return path
    missing = [i for i in session.scalars(select(BatchItem.sha256).where(BatchItem.batch_id == batch.id))
               if not store.verify(i)]
    if missing:
        raise BatchError("hash_mismatch", f"{len(missing)} 张照片的存储文件缺失或已损坏，无法重新生成该批次")
    with atomic_output(path) as f:
        rebuild(session, store, batch, f)
    if file_sha256(path) != batch.zip_sha256:
        path.unlink(missing_ok=True)
        raise BatchError("rebuild_mismatch", "重新生成的批次文件与记录的 SHA-256 不一致")
    batch.zip_path = str(path.resolve())
    session.flush()
    return path


def list_batches(session: Session, term: Term | None = None, limit: int = 200) -> list[Batch]:
    stmt = select(Batch).order_by(Batch.id.desc()).limit(limit)
    if term is not None:
        stmt = stmt.where(Batch.term_id == term.id)
    return list(session.scalars(stmt))


def delivered_dates(session: Session, photo_ids: list[int]) -> dict[int, dt.datetime]:
    """photo id → when it was first put into a batch (either channel)."""
    out: dict[int, dt.datetime] = {}
    if not photo_ids:
        return out
    rows = session.execute(select(BatchItem.photo_id, Batch.created_at).join(Batch, Batch.id == BatchItem.batch_id)
                           .where(BatchItem.photo_id.in_(photo_ids)))
    for pid, at in rows:
        if pid not in out or at < out[pid]:
            out[pid] = at
    return out


def excluded_json(plan_or_list) -> list[dict[str, Any]]:
    items = plan_or_list.excluded if isinstance(plan_or_list, Plan) else plan_or_list
    return [{"xh": e["xh"], "reason": e["reason"], "code": e.get("code")} for e in items]


