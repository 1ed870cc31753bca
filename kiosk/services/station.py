"""The operator station: capture sessions, the student at the camera, captures, decisions.

Like every service here these take the database ``Session`` first and only ``flush()``;
the request commits.  The station's state lives in the database, so a browser reload or
a server restart resumes where the operator was:

* the operator's open :class:`~kiosk.models.CaptureSession` (``ended_at`` empty) —
  term, station, place, camera;
* ``CaptureSession.current_student_id`` — the student at the camera;
* the photo awaiting a decision — the newest photo of that student taken in this session
  while it is still ``captured``/``review``/``pending`` (or ``unusable``, to show why the
  frame was refused); see :func:`awaiting_photo`.

Decisions go through :mod:`kiosk.services.photos` (which enforces pass → approve,
warn → only after the manual checklist, fail → only an admin with a written reason);
this module adds the station's own rules: the photo must belong to this session, the
checklist must be ticked item by item, and an override needs an administrator's own
credentials, verified here (never trusting the page).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from ..db import lock_rows
from ..models import (CaptureSession, Photo, PhotoStatus, ReviewItem, ReviewKind, Role, Station, StationCall,
                      Student, Term, User, utcnow)
from ..store import PhotoStore
from . import audit, identity, photos
from .selfcheck import note_attempt, recent_attempts
from .students import scoped

#: What software cannot judge; the operator ticks each item (required before approving a
#: photo whose QC verdict is ``warn``).  ``(key, Chinese, English)``.
CHECKLIST: tuple[tuple[str, str, str], ...] = (
    ("no_jewellery", "无耳环、项链等饰物", "No earrings or necklace"),
    ("ears_visible", "双耳露出，头发不遮挡眉眼", "Both ears visible, hair off the brows and eyes"),
    ("no_hat", "未戴帽子或头饰", "No hat or headwear"),
    ("no_tinted_lenses", "未戴有色镜片或美瞳", "No tinted lenses or coloured contacts"),
)
CHECKLIST_KEYS = frozenset(k for k, _, _ in CHECKLIST)

CAMERA_KINDS = ("browser", "opencv", "hotfolder")
#: What an OpenCV device is asked for: a spec photo needs ≥ 1280×720 (see README).
OPENCV_REQUEST = {"width": 1280, "height": 720}

OVERRIDE_MAX_FAILS = 5
OVERRIDE_WINDOW_MINUTES = 15
MIN_REASON = 4
MAX_COLLECT_CODE = 4096

#: Why the station takes no photo of a withdrawn student (``Student.withdrawn_at``; on a
#: station node, as of its last pull from the central server).
WITHDRAWN_ZH = photos.WITHDRAWN_ZH


class StationError(Exception):
    """A station action that is not allowed or not possible.

    ``code`` is stable (API and tests), ``message`` Chinese, ``status`` the HTTP status the
    web layer answers with; ``commit`` asks the view to commit what the service recorded
    before refusing (the audit entry of a refused override, say).
    """

    def __init__(self, code: str, message: str, status: int = 400, *, commit: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.commit = commit


# ---------------------------------------------------------------------- sessions
def camera_config(kind: str, value: str = "") -> dict[str, Any]:
    """The ``camera`` JSON of a session from the start form.

    ``browser`` (default): the page's getUserMedia camera.  ``opencv``: ``value`` is a
    device index (``0``), a device path (``/dev/video2``) or a video file; the device is
    asked for 1280×720.  ``hotfolder``: ``value`` is a folder on the station's computer
    where a tethered camera drops its files.
    """
    from capture import SourceError, make_source  # noqa: PLC0415

    kind = (kind or "browser").strip()
    value = (value or "").strip()
    if kind not in CAMERA_KINDS:
        raise StationError("bad_camera", f"未知的相机类型：{kind}")
    if kind == "browser":
        cfg: dict[str, Any] = {"kind": "browser"}
    elif kind == "opencv":
        device: int | str = int(value) if value.isdigit() else (value or 0)
        if isinstance(device, str) and not (device.startswith("/dev/") or Path(device).exists() or "://" in device):
            raise StationError("bad_camera", f"找不到相机设备：{device}（填写设备编号如 0，或设备路径如 /dev/video0）")
        cfg = {"kind": "opencv", "device": device, **OPENCV_REQUEST}
    else:
        if not value:
            raise StationError("bad_camera", "请填写热文件夹路径")
        p = Path(value).expanduser()
        if not p.is_dir():
            raise StationError("bad_camera", f"热文件夹不存在：{value}")
        cfg = {"kind": "hotfolder", "path": str(p.resolve())}
    try:
        make_source(cfg)
    except SourceError as e:
        raise StationError("bad_camera", e.message_zh) from None
    return cfg


def start_session(session: Session, user: User, term: Term, *, station_name: str, place: str = "",
                  camera: dict[str, Any] | None = None, ip: str | None = None) -> CaptureSession:
    """Open a capture session for ``user`` at a station (created on first use).

    An operator has one open session at a time and a station serves one session at a
    time: older open ones are ended (audited as ``replaced``).
    """
    station_name = (station_name or "").strip()[:64]
    place = (place or "").strip()[:100]
    if not station_name:
        raise StationError("station_name", "请填写工位名称（如 1 号机位）")
    camera = camera or {"kind": "browser"}
    unit_id = user.org_unit_id
    unit_cond = Station.org_unit_id.is_(None) if unit_id is None else Station.org_unit_id == unit_id
    station = session.scalar(select(Station).where(unit_cond, Station.name == station_name))
    if station is None:
        station = Station(name=station_name, org_unit_id=unit_id, place=place, camera=camera)
        session.add(station)
        session.flush()
    else:
        station.place = place
        station.camera = camera
    now = utcnow()
    olds = session.scalars(select(CaptureSession).where(
        CaptureSession.ended_at.is_(None),
        or_(CaptureSession.station_id == station.id, CaptureSession.operator_id == user.id)))
    for old in olds:
        old.ended_at = now
        audit.record(session, "station.session_end", actor=user, object_type="capture_session", object_id=old.id,
                     term_id=old.term_id, station=old.station.name, ip=ip, reason="replaced")
    cs = CaptureSession(term_id=term.id, station_id=station.id, operator_id=user.id, place=place, camera=camera,
                        started_at=now)
    session.add(cs)
    session.flush()
    audit.record(session, "station.session_start", actor=user, object_type="capture_session", object_id=cs.id,
                 term_id=term.id, station=station.name, ip=ip, place=place, camera=camera, term=term.code)
    return cs


def open_session(session: Session, user: User) -> CaptureSession | None:
    """The operator's open capture session (the newest), if any."""
    return session.scalar(select(CaptureSession).where(CaptureSession.operator_id == user.id,
                                                       CaptureSession.ended_at.is_(None))
                          .order_by(CaptureSession.started_at.desc(), CaptureSession.id.desc()).limit(1))


def end_session(session: Session, cs: CaptureSession, actor: User, ip: str | None = None) -> None:
    if cs.ended_at is None:
        cs.ended_at = utcnow()
        session.flush()
        audit.record(session, "station.session_end", actor=actor, object_type="capture_session", object_id=cs.id,
                     term_id=cs.term_id, station=cs.station.name, ip=ip, reason="ended")


# ---------------------------------------------------------------------- students
def is_withdrawn(student: Student) -> bool:
    return student.withdrawn_at is not None


def ensure_not_withdrawn(student: Student) -> None:
    """Refuse (``student_withdrawn``, 409) to take or decide a photo of a withdrawn student.

    Finding and selecting them still works, so the card can say why nothing is taken."""
    if student.withdrawn_at is not None:
        raise StationError("student_withdrawn", WITHDRAWN_ZH, 409)


def get_student(session: Session, cs: CaptureSession, student_id: Any, scope_ids: set[int] | None) -> Student:
    """A student of the session's term that the operator may see, or ``not_found``.

    Students of other 学习中心 get the same answer as students that do not exist."""
    try:
        sid = int(student_id)
    except (TypeError, ValueError):
        raise StationError("not_found", "未找到该学生", 404) from None
    st = session.scalar(scoped(select(Student).where(Student.id == sid, Student.term_id == cs.term_id), scope_ids))
    if st is None:
        raise StationError("not_found", "未找到该学生，或该学生不属于你所在的学习中心", 404)
    return st


def select_student(session: Session, cs: CaptureSession, student: Student, actor: User,
                   ip: str | None = None, via: str = "search") -> None:
    """Put ``student`` at the camera (audited when it changes)."""
    if cs.current_student_id == student.id:
        return
    cs.current_student_id = student.id
    session.flush()
    audit.record(session, "station.select_student", actor=actor, object_type="student", object_id=student.id,
                 term_id=cs.term_id, station=cs.station.name, ip=ip, xh=student.xh, via=via)


def current_student(session: Session, cs: CaptureSession, scope_ids: set[int] | None) -> Student | None:
    """The student at the camera (``None`` if none, or no longer visible to the operator)."""
    if cs.current_student_id is None:
        return None
    try:
        return get_student(session, cs, cs.current_student_id, scope_ids)
    except StationError:
        return None


def student_by_code(session: Session, term_id: int, code: str, scope_ids: set[int] | None) -> Student | None:
    return session.scalar(scoped(select(Student).where(Student.term_id == term_id, Student.collect_code == code),
                                 scope_ids))


def store_collect_code(session: Session, cs: CaptureSession, student: Student, code: str, actor: User, *,
                       replace: bool = False, ip: str | None = None) -> bool:
    """Store the scanned 图像采集码 verbatim on ``student``; ``True`` when it changed.

    A different code already on the student is only replaced when ``replace`` is given
    (CHSI keeps one code per student); a code registered to another student is refused.
    """
    if not code:
        raise StationError("no_code", "采集码为空")
    ensure_not_withdrawn(student)
    if len(code) > MAX_COLLECT_CODE:
        raise StationError("code_too_long", f"采集码过长（{len(code)} 个字符）")
    # Two stations may store the same code at once: serialise code stores of the term
    # (row lock; SQLite's write lock), then look again.
    session.flush()
    lock_rows(session, Term, [student.term_id])
    session.refresh(student)
    if student.collect_code == code:
        return False
    other = session.scalar(select(Student.id).where(Student.term_id == student.term_id, Student.collect_code == code,
                                                    Student.id != student.id))
    if other is not None:
        raise StationError("code_taken", "该采集码已登记在另一名学生名下，请核对学生身份", 409)
    if student.collect_code and not replace:
        raise StationError("code_exists", "该学生已登记了另一个采集码；如确需更换，请再次扫描并确认更换", 409)
    previous = student.collect_code
    student.collect_code = code
    student.collect_code_at = utcnow()
    session.flush()
    audit.record(session, "student.collect_code", actor=actor, object_type="student", object_id=student.id,
                 term_id=student.term_id, station=cs.station.name, ip=ip, xh=student.xh, code=code,
                 previous=previous)
    return True


# ---------------------------------------------------------------------- capture
def receive_frame(session: Session, store: PhotoStore, cs: CaptureSession, student: Student, data: bytes,
                  actor: User, *, source: str = "browser", ip: str | None = None) -> str:
    """Keep the received frame before anything else happens: store + audit (commit next).

    A withdrawn student is refused first: nothing is stored or recorded for them."""
    ensure_not_withdrawn(student)
    sha = store.put(data)
    audit.record(session, "station.frame_received", actor=actor, object_type="student", object_id=student.id,
                 term_id=cs.term_id, photo_sha256=sha, station=cs.station.name, ip=ip, xh=student.xh,
                 bytes=len(data), source=source)
    return sha


def capture(session: Session, store: PhotoStore, cs: CaptureSession, student: Student, original: bytes,
            actor: User, *, profile: Any = "chsi_xueli_v1", ip: str | None = None, name: str | None = None):
    """Normalise and check a received frame and record it as a new photo version.

    Returns ``(photo, prepared)``.  An earlier photo of the student still awaiting a
    decision in this session is set aside as a retake first (one photo awaits at a time).
    """
    from capture.prepare import prepare  # noqa: PLC0415

    ensure_not_withdrawn(student)
    # The CPU-heavy part first, before this request touches the database again.
    # ``name`` (a hot-folder file name) is only recorded: the spec photo is a new file
    # whose name the export decides, so the camera's ``.JPG`` must not be judged.
    reference = identity.reference_for(student)
    # With a reference, identity_match computes the encoding anyway: keep it (and the face
    # hash) for the duplicate search.  Without one, the approval hook computes it later,
    # for approved photos only, so retakes do not pay ~75 ms each.
    prepared = prepare(original, profile=profile, reference=reference, mode="normalize",
                       want_encoding=reference is not None)
    for old in session.scalars(select(Photo).where(Photo.student_id == student.id, Photo.session_id == cs.id,
                                                   Photo.status.in_(photos.DECIDABLE))):
        photos.reject(session, old, actor, reason="重拍（被新的采集取代）", station_name=cs.station.name, ip=ip)
    photo = photos.record_prepared(session, store, student, original, prepared, source="capture", actor=actor,
                                   capture_session_id=cs.id, station_id=cs.station_id, station_name=cs.station.name,
                                   ip=ip, original_name=name)
    if prepared.report is not None:
        identity.after_check(session, photo, prepared.report, actor, ip=ip, station_name=cs.station.name)
    return photo, prepared


def awaiting_photo(session: Session, cs: CaptureSession) -> Photo | None:
    """The current student's newest photo of this session while it awaits a decision."""
    if cs.current_student_id is None:
        return None
    p = session.scalar(select(Photo).where(Photo.session_id == cs.id, Photo.student_id == cs.current_student_id)
                       .order_by(Photo.version.desc()).limit(1))
    if p is None:
        return None
    if p.status in photos.DECIDABLE or (p.status == PhotoStatus.UNUSABLE.value and p.decided_at is None):
        return p
    return None


def session_photo(session: Session, cs: CaptureSession, photo_id: Any, scope_ids: set[int] | None) -> Photo:
    """A photo taken in this session of a student the operator may see, or ``not_found``."""
    try:
        pid = int(photo_id)
    except (TypeError, ValueError):
        raise StationError("not_found", "照片不存在", 404) from None
    p = session.get(Photo, pid)
    if p is None or p.session_id != cs.id:
        raise StationError("not_found", "照片不存在，或不是本场次拍摄的", 404)
    get_student(session, cs, p.student_id, scope_ids)
    return p


# ---------------------------------------------------------------------- decisions
def checklist_complete(ticked: Iterable[str] | None) -> bool:
    return CHECKLIST_KEYS <= set(ticked or ())


def approve(session: Session, cs: CaptureSession, photo: Photo, actor: User, *, checklist: Iterable[str] | None = None,
            ip: str | None = None) -> Photo:
    """The operator approves (A).  Refusals are audited and raised as ``StationError``."""
    ticked = sorted(set(checklist or ()) & CHECKLIST_KEYS)
    ok = checklist_complete(ticked)
    try:
        if photo.student.withdrawn_at is not None:   # withdrawn after the capture
            raise photos.PhotoError("student_withdrawn", WITHDRAWN_ZH)
        photos.approve(session, photo, actor, checklist_ok=ok, station_name=cs.station.name, ip=ip)
    except photos.PhotoError as e:
        audit.record(session, "station.approve_refused", actor=actor, object_type="photo", object_id=photo.id,
                     term_id=cs.term_id, photo_sha256=photo.sha256, station=cs.station.name, ip=ip,
                     xh=photo.student.xh, code=e.code, verdict=photo.qc_verdict, checklist=ticked)
        status = 409 if e.code in ("state", "student_withdrawn") else 403
        raise StationError(e.code, e.message, status, commit=True) from None
    _after_approve(session, photo, actor, ip, cs)
    return photo


def verify_admin(session: Session, username: str, password: str) -> User | None:
    """An active administrator with these credentials (no login is recorded)."""
    u = session.scalar(select(User).where(User.username == (username or "").strip()))
    if u is None or not u.active or u.role != Role.ADMIN.value or not check_password_hash(u.password_hash, password or ""):
        return None
    return u


def override(session: Session, cs: CaptureSession, photo: Photo, operator: User, *, username: str, password: str,
             reason: str, ip: str | None = None) -> Photo:
    """An administrator approves at the station with their own credentials and a reason.

    The approval is recorded with the administrator as the actor (``photo.approve`` with
    ``override``) plus a ``station.override`` entry naming the operator.  Failed
    credential checks are audited and limited per session.
    """
    if photo.student.withdrawn_at is not None:
        audit.record(session, "station.approve_refused", actor=operator, object_type="photo", object_id=photo.id,
                     term_id=cs.term_id, photo_sha256=photo.sha256, station=cs.station.name, ip=ip,
                     xh=photo.student.xh, code="student_withdrawn", verdict=photo.qc_verdict, override=True)
        raise StationError("student_withdrawn", WITHDRAWN_ZH, 409, commit=True)
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise StationError("reason_required", f"请填写批准理由（至少 {MIN_REASON} 个字）")
    key = f"override:{cs.id}"
    if recent_attempts(session, key, OVERRIDE_WINDOW_MINUTES) >= OVERRIDE_MAX_FAILS:
        raise StationError("rate_limited", f"管理员验证失败次数过多，请 {OVERRIDE_WINDOW_MINUTES} 分钟后再试", 429)
    admin = verify_admin(session, username, password)
    if admin is None:
        note_attempt(session, key, OVERRIDE_WINDOW_MINUTES)
        audit.record(session, "station.override_denied", actor=operator, object_type="photo", object_id=photo.id,
                     term_id=cs.term_id, photo_sha256=photo.sha256, station=cs.station.name, ip=ip,
                     xh=photo.student.xh, admin_username=(username or "")[:64])
        raise StationError("override_denied", "管理员账号或密码不正确，或该账号不是管理员", 403, commit=True)
    try:
        photos.approve(session, photo, admin, override_reason=reason, station_name=cs.station.name, ip=ip)
    except photos.PhotoError as e:
        raise StationError(e.code, e.message, 409) from None
    audit.record(session, "station.override", actor=admin, object_type="photo", object_id=photo.id,
                 term_id=cs.term_id, photo_sha256=photo.sha256, station=cs.station.name, ip=ip,
                 xh=photo.student.xh, operator=operator.username, verdict=photo.qc_verdict, reason=reason)
    _after_approve(session, photo, admin, ip, cs)
    return photo


def retake(session: Session, cs: CaptureSession, photo: Photo, actor: User, ip: str | None = None) -> Photo:
    """The operator chooses to retake (R): the photo stays on record as ``rejected``."""
    if photo.status == PhotoStatus.UNUSABLE.value:
        # Nothing to decide (the frame was refused); note that the operator moved on.
        if photo.decided_at is None:
            photo.decided_at = utcnow()
            photo.decided_by_id = actor.id
            session.flush()
            audit.record(session, "photo.retake", actor=actor, object_type="photo", object_id=photo.id,
                         term_id=cs.term_id, photo_sha256=photo.original_sha256, station=cs.station.name, ip=ip,
                         xh=photo.student.xh, reason="重拍（画面无法使用）", verdict=None)
        return photo
    try:
        return photos.reject(session, photo, actor, reason="重拍", action="photo.retake",
                             station_name=cs.station.name, ip=ip)
    except photos.PhotoError as e:
        raise StationError(e.code, e.message, 409) from None


def _after_approve(session: Session, photo: Photo, actor: User, ip: str | None, cs: CaptureSession) -> None:
    """A new approved photo closes the student's open calls and their 有误 reports."""
    now = utcnow()
    st = photo.student
    for call in session.scalars(select(StationCall).where(StationCall.student_id == st.id,
                                                          StationCall.done_at.is_(None))):
        call.done_at = now
        call.done_photo_id = photo.id
        audit.record(session, "station.call_done", actor=actor, object_type="station_call", object_id=call.id,
                     term_id=st.term_id, photo_sha256=photo.sha256, station=cs.station.name, ip=ip, xh=st.xh)
    for item in session.scalars(select(ReviewItem).where(ReviewItem.student_id == st.id,
                                                         ReviewItem.kind == ReviewKind.SELF_REPORT.value,
                                                         ReviewItem.status == "open")):
        item.status = "resolved"
        item.resolution = f"工作站 {cs.station.name} 重拍并通过（第 {photo.version} 版照片）"
        item.resolved_by_id = actor.id
        item.resolved_at = now
        audit.record(session, "review.resolve", actor=actor, object_type="review_item", object_id=item.id,
                     term_id=st.term_id, photo_sha256=photo.sha256, station=cs.station.name, ip=ip,
                     kind=item.kind, xh=st.xh, resolution=item.resolution)
    session.flush()


# ---------------------------------------------------------------------- calls, progress
def call_student(session: Session, item: ReviewItem, actor: User, ip: str | None = None) -> tuple[StationCall, bool]:
    """Put the student of a review item at the front of the stations' call list.

    Returns ``(call, created)``; an open call for the student is reused.  A withdrawn
    student is not called (``student_withdrawn``)."""
    ensure_not_withdrawn(item.student)
    call = session.scalar(select(StationCall).where(StationCall.student_id == item.student_id,
                                                    StationCall.done_at.is_(None)))
    if call is not None:
        return call, False
    reason = {"self_report": "学生报告有误", "qc_warn": "质检提醒", "identity": "与入学照片不符",
              "duplicate_face": "疑似同一人两个学号", "duplicate_file": "重复照片",
              "replace": "替换已通过照片"}.get(item.kind, item.kind)
    call = StationCall(term_id=item.term_id, student_id=item.student_id, review_item_id=item.id,
                       reason=f"复核：{reason}"[:200], requested_by_id=actor.id)
    session.add(call)
    session.flush()
    audit.record(session, "station.call", actor=actor, object_type="station_call", object_id=call.id,
                 term_id=item.term_id, ip=ip, xh=item.student.xh, review_item=item.id, kind=item.kind)
    return call, True


def _scope_stmt(cs: CaptureSession, scope_ids: set[int] | None):
    """The students the station works for: this term, in scope, not withdrawn."""
    return scoped(select(Student.id).where(Student.term_id == cs.term_id, Student.withdrawn_at.is_(None)), scope_ids)


def progress(session: Session, cs: CaptureSession, scope_ids: set[int] | None) -> dict[str, int]:
    """Counts among the students the operator may see, withdrawn ones left out (same
    definitions as coverage):
    ``total``; ``captured`` (any photo); ``approved``; ``remaining`` (no approved photo);
    and for this session ``session_captured`` / ``session_approved`` (students)."""
    ids = _scope_stmt(cs, scope_ids).subquery()
    in_scope = Photo.student_id.in_(select(ids.c.id))
    total = session.scalar(select(func.count()).select_from(ids)) or 0
    captured = session.scalar(select(func.count(func.distinct(Photo.student_id))).where(in_scope)) or 0
    approved = session.scalar(select(func.count(func.distinct(Photo.student_id)))
                              .where(in_scope, Photo.status == PhotoStatus.APPROVED.value)) or 0
    s_capt = session.scalar(select(func.count(func.distinct(Photo.student_id))).where(Photo.session_id == cs.id)) or 0
    s_appr = session.scalar(select(func.count(func.distinct(Photo.student_id)))
                            .where(Photo.session_id == cs.id, Photo.status == PhotoStatus.APPROVED.value)) or 0
    return {"total": total, "captured": captured, "approved": approved, "remaining": total - approved,
            "session_captured": s_capt, "session_approved": s_appr}


def call_queue(session: Session, cs: CaptureSession, scope_ids: set[int] | None, limit: int = 5) -> list[dict]:
    """The next students to call, in order: open calls from the review queue (oldest
    first), open 有误 self-reports, then students without an approved photo by 学号.
    Students at the camera of this or another open session, and withdrawn students, are
    left out."""
    busy = select(CaptureSession.current_student_id).where(CaptureSession.ended_at.is_(None),
                                                           CaptureSession.current_student_id.is_not(None))
    base = scoped(select(Student).where(Student.term_id == cs.term_id, Student.withdrawn_at.is_(None),
                                        Student.id.not_in(busy)), scope_ids)
    out: list[dict] = []
    seen: set[int] = set()

    def add(pairs) -> None:
        for st, reason in pairs:
            if st.id not in seen and len(out) < limit:
                seen.add(st.id)
                out.append({"student": st, "reason": reason})

    calls = session.execute(base.add_columns(StationCall.reason).join(StationCall, and_(
        StationCall.student_id == Student.id, StationCall.done_at.is_(None)))
        .order_by(StationCall.requested_at, StationCall.id).limit(limit * 4))
    add((st, reason or "复核队列要求重拍") for st, reason in calls)
    if len(out) < limit:
        reports = session.scalars(base.join(ReviewItem, and_(
            ReviewItem.student_id == Student.id, ReviewItem.kind == ReviewKind.SELF_REPORT.value,
            ReviewItem.status == "open")).order_by(ReviewItem.created_at, ReviewItem.id).limit(limit * 4))
        add((st, "学生报告有误") for st in reports)
    if len(out) < limit:
        has_approved = exists().where(Photo.student_id == Student.id, Photo.status == PhotoStatus.APPROVED.value)
        rest = session.scalars(base.where(~has_approved, Student.id.not_in(seen or {-1}))
                               .order_by(Student.xh).limit(limit - len(out)))
        add((st, "尚无合格照片") for st in rest)
    return out

