"""Records: terms, organisation, roster, photos, QC reports, sessions, people, audit.

SQLAlchemy 2.x typed models on one ``MetaData`` with a naming convention (so Alembic
names constraints the same on SQLite and PostgreSQL).  Timestamps are stored in UTC.

Photo bytes never live in the database: rows hold the SHA-256 of bytes kept in the
content-addressed :mod:`kiosk.store`.
"""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer,
                        LargeBinary, MetaData, String, Text, UniqueConstraint, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Role(str, enum.Enum):
    ADMIN = "admin"                  # school admin: everything
    OPERATOR = "operator"            # branch / learning-centre capture operator
    IMAGING_UNIT = "imaging_unit"    # 图像采集单位 uploading batches


class PhotoStatus(str, enum.Enum):
    CAPTURED = "captured"        # stored and checked, awaiting the operator's decision
    REVIEW = "review"            # QC warned: in the review queue
    PENDING = "pending"          # passed, but the student already has an approved photo
    APPROVED = "approved"        # the student's photo for the term (at most one)
    SUPERSEDED = "superseded"    # was approved, replaced by a newer one (kept)
    REJECTED = "rejected"        # QC failed or the operator chose to retake
    UNUSABLE = "unusable"        # the original could not be normalised (kept for the record)


class ReviewKind(str, enum.Enum):
    QC_WARN = "qc_warn"                  # photo warned in QC
    REPLACE = "replace"                  # a passing photo would replace an approved one
    SELF_REPORT = "self_report"          # student reported 有误
    IDENTITY = "identity"                # face differs from the enrolment photo
    DUPLICATE_FACE = "duplicate_face"    # same face under two 学号
    DUPLICATE_FILE = "duplicate_file"    # same/near-same file under two 学号
    MULTIPLE_FILES = "multiple_files"    # one intake archive held several photos of one student
    SYNC_CONFLICT = "sync_conflict"      # a station node's offline record clashed with the server's


# ---------------------------------------------------------------------- organisation
class Term(Base):
    """A graduation batch (``2027-01``, ``2027-07``) with its review window."""

    __tablename__ = "terms"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    review_start: Mapped[dt.date | None] = mapped_column(Date)
    review_end: Mapped[dt.date | None] = mapped_column(Date)
    confirm_deadline: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    students: Mapped[list["Student"]] = relationship(back_populates="term")


class OrgUnit(Base):
    """分部 (``kind='branch'``) → 学习中心 (``kind='centre'``)."""

    __tablename__ = "org_units"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # branch | centre
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))

    parent: Mapped["OrgUnit | None"] = relationship(remote_side="OrgUnit.id", back_populates="children")
    children: Mapped[list["OrgUnit"]] = relationship(back_populates="parent")
    __table_args__ = (UniqueConstraint("parent_id", "name"),)


class ImagingUnit(Base):
    """图像采集单位: the authorised company that uploads photos to CHSI."""

    __tablename__ = "imaging_units"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(20))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    imaging_unit_id: Mapped[int | None] = mapped_column(ForeignKey("imaging_units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    org_unit: Mapped[OrgUnit | None] = relationship()
    imaging_unit: Mapped[ImagingUnit | None] = relationship()


# ---------------------------------------------------------------------- roster
def _pinyin_default(context) -> str | None:
    from .pinyin import search_key  # noqa: PLC0415

    return search_key(context.get_current_parameters().get("name"))


class Student(Base):
    """One expected graduate on one term's roster (学号 unique within the term)."""

    __tablename__ = "students"
    id: Mapped[int] = mapped_column(primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"), index=True)
    xh: Mapped[str] = mapped_column(String(32))                 # 学号 (text, leading zeros kept)
    name: Mapped[str] = mapped_column(String(64))               # 姓名
    # Pinyin search key of the name (kiosk.pinyin.search_key): filled on insert (also by
    # bulk inserts, through the column default) and whenever ``name`` is assigned.
    name_pinyin: Mapped[str | None] = mapped_column(String(200), default=_pinyin_default)
    gender: Mapped[str | None] = mapped_column(String(4))       # 性别: 男 / 女
    id_number: Mapped[str] = mapped_column(String(18))          # 身份证号 (18 chars, or 15 legacy)
    id_legacy: Mapped[bool] = mapped_column(Boolean, default=False)
    level: Mapped[str | None] = mapped_column(String(16))       # 层次: 专科 / 本科
    major: Mapped[str | None] = mapped_column(String(100))      # 专业
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)  # 学习中心
    class_name: Mapped[str | None] = mapped_column(String(100))  # 班级
    enrol_date: Mapped[dt.date | None] = mapped_column(Date)    # 入学日期
    expected_grad_date: Mapped[dt.date | None] = mapped_column(Date)  # 预计毕业日期
    collect_code: Mapped[str | None] = mapped_column(Text)      # 图像采集码, scanned text verbatim
    collect_code_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reference_sha256: Mapped[str | None] = mapped_column(String(64))   # enrolment photo in the store
    reference_encoding: Mapped[bytes | None] = mapped_column(LargeBinary)  # 128 × float32
    reference_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # left the roster (kept, not deleted)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    term: Mapped[Term] = relationship(back_populates="students")
    centre: Mapped[OrgUnit | None] = relationship()
    photos: Mapped[list["Photo"]] = relationship(back_populates="student", order_by="Photo.version")
    __table_args__ = (
        UniqueConstraint("term_id", "xh"),
        UniqueConstraint("term_id", "id_number"),
        Index("ix_students_term_id_name", "term_id", "name"),
    )

    @validates("name")
    def _set_name_pinyin(self, _key: str, value: str) -> str:
        from .pinyin import search_key  # noqa: PLC0415

        self.name_pinyin = search_key(value)
        return value


# ---------------------------------------------------------------------- capture
class Station(Base):
    __tablename__ = "stations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    place: Mapped[str] = mapped_column(String(100), default="")
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    camera: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (UniqueConstraint("org_unit_id", "name"),)


class CaptureSession(Base):
    """An on-site session: one operator at one station for one term."""

    __tablename__ = "capture_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"), index=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    operator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    place: Mapped[str] = mapped_column(String(100), default="")
    camera: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    current_student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"))

    term: Mapped[Term] = relationship()
    station: Mapped[Station] = relationship()
    operator: Mapped[User] = relationship()
    current_student: Mapped[Student | None] = relationship()


class StationCall(Base):
    """A request to call a student (back) to a capture station, e.g. "重拍" from the review
    queue.  Open while ``done_at`` is empty; the station lists open calls first and closes
    them when it approves a new photo of the student."""

    __tablename__ = "station_calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    review_item_id: Mapped[int | None] = mapped_column(ForeignKey("review_items.id"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    done_photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id"))

    student: Mapped[Student] = relationship()
    requested_by: Mapped[User | None] = relationship()


class IntakeJob(Base):
    """One archive/folder from an imaging unit, processed file by file."""

    __tablename__ = "intake_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"), index=True)
    imaging_unit_id: Mapped[int | None] = mapped_column(ForeignKey("imaging_units.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    source_name: Mapped[str] = mapped_column(String(255))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(8), default="auto")  # xh | sfzh | auto
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # queued|running|done|failed
    phase: Mapped[str] = mapped_column(String(16), default="", server_default="")  # scan|check|post|report
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    post_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")   # post-approval phase
    post_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # last progress (stale → interrupted)
    created_by_name: Mapped[str] = mapped_column(String(80), default="", server_default="")  # user or "cli:…"
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    term: Mapped[Term] = relationship()
    imaging_unit: Mapped[ImagingUnit | None] = relationship()
    files: Mapped[list["IntakeFile"]] = relationship(back_populates="job", order_by="IntakeFile.id")


# ---------------------------------------------------------------------- photos
class Photo(Base):
    """Every capture or upload of a student, kept (versions).

    ``sha256`` is the spec photo (480×640 JPEG) in the store, ``original_sha256`` the bytes
    as received (camera frame or imaging-unit file).  At most one ``approved`` photo per
    student (partial unique index); an earlier approved one becomes ``superseded``.
    """

    __tablename__ = "photos"
    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))  # capture | intake
    status: Mapped[str] = mapped_column(String(16), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    original_sha256: Mapped[str] = mapped_column(String(64), index=True)
    original_name: Mapped[str | None] = mapped_column(String(255))
    normalized: Mapped[bool] = mapped_column(Boolean, default=False)  # output made by the normaliser
    transform: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    qc_verdict: Mapped[str | None] = mapped_column(String(16))
    profile: Mapped[str | None] = mapped_column(String(64))
    face_encoding: Mapped[bytes | None] = mapped_column(LargeBinary)  # 128 × float32
    phash: Mapped[int | None] = mapped_column(BigInteger)
    identity_distance: Mapped[float | None] = mapped_column(Float)
    captured_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("capture_sessions.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("stations.id"))
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    intake_job_id: Mapped[int | None] = mapped_column(ForeignKey("intake_jobs.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    override: Mapped[bool] = mapped_column(Boolean, default=False)  # approved despite a fail (admin)

    student: Mapped[Student] = relationship(back_populates="photos")
    session: Mapped[CaptureSession | None] = relationship()
    station: Mapped[Station | None] = relationship()
    operator: Mapped[User | None] = relationship(foreign_keys=[operator_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    reports: Mapped[list["QCReport"]] = relationship(back_populates="photo", order_by="QCReport.id")
    __table_args__ = (
        UniqueConstraint("student_id", "version"),
        Index("ux_photos_one_approved", "student_id", unique=True,
              sqlite_where=text("status = 'approved'"), postgresql_where=text("status = 'approved'")),
    )

    @property
    def latest_report(self) -> "QCReport | None":
        return self.reports[-1] if self.reports else None


class QCReport(Base):
    """A QC run of a photo: verdict and every check's numbers (``checks`` as in the API)."""

    __tablename__ = "qc_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    profile: Mapped[str] = mapped_column(String(64))
    profile_version: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(16))
    checks: Mapped[list[Any]] = mapped_column(JSON)
    elapsed_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    photo: Mapped[Photo] = relationship(back_populates="reports")


class BackgroundJob(Base):
    """A background job other than intake (an upload-batch build, …), whichever backend
    runs it: state, progress and result live here so any web process can show them."""

    __tablename__ = "background_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)        # public id (in URLs)
    kind: Mapped[str] = mapped_column(String(32), index=True)         # batch_build | …
    status: Mapped[str] = mapped_column(String(12), default="queued", index=True)  # queued|running|done|failed
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class IntakeFile(Base):
    """One file of an intake job and what became of it."""

    __tablename__ = "intake_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("intake_jobs.id"), index=True)
    name: Mapped[str] = mapped_column(String(512))
    xh: Mapped[str | None] = mapped_column(String(32))
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id"))
    sha256: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # approved|review|rejected|pending|unmatched|skipped|error
    key_kind: Mapped[str | None] = mapped_column(String(8))  # xh | sfzh | manifest (how it was matched)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # order in the archive
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)

    job: Mapped[IntakeJob] = relationship(back_populates="files")
    student: Mapped[Student | None] = relationship()

    # One row per archive entry, even when a Celery chunk is delivered twice (0005).
    __table_args__ = (Index("ux_intake_files_job_position", "job_id", "position", unique=True),)


class ReviewItem(Base):
    """Something a person must look at: QC warnings, 有误 reports, identity/duplicate hits."""

    __tablename__ = "review_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)  # open | resolved
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id"))
    other_student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"))
    other_photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id"))
    distance: Mapped[float | None] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolution: Mapped[str | None] = mapped_column(Text)

    student: Mapped[Student] = relationship(foreign_keys=[student_id])
    other_student: Mapped[Student | None] = relationship(foreign_keys=[other_student_id])
    photo: Mapped[Photo | None] = relationship(foreign_keys=[photo_id])
    other_photo: Mapped[Photo | None] = relationship(foreign_keys=[other_photo_id])


class Confirmation(Base):
    """A student's answer on the self-check page: 正确 (correct) or 有误 (wrong)."""

    __tablename__ = "confirmations"
    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id"))
    result: Mapped[str] = mapped_column(String(12))  # correct | wrong
    category: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RateEvent(Base):
    """Attempts counted for rate limiting (self-check), keyed by a hashed client id."""

    __tablename__ = "rate_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)


# ---------------------------------------------------------------------- batches
class Batch(Base):
    """An upload batch: one deterministic ZIP of approved photos + manifests."""

    __tablename__ = "batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # unit | school
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    naming: Mapped[str] = mapped_column(String(8), default="xh")  # xh | sfzh
    grouping: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_name: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    zip_name: Mapped[str] = mapped_column(String(255))
    zip_sha256: Mapped[str] = mapped_column(String(64))
    zip_size: Mapped[int] = mapped_column(BigInteger, default=0)
    photo_count: Mapped[int] = mapped_column(Integer, default=0)
    excluded: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # What the archive's summary says (upload.batch.BatchInfo as a dict): with the items'
    # manifest rows it is everything needed to rebuild the same bytes.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    zip_path: Mapped[str | None] = mapped_column(String(1024))  # where it was written

    term: Mapped[Term] = relationship()
    items: Mapped[list["BatchItem"]] = relationship(back_populates="batch", order_by="BatchItem.arcname")


class BatchItem(Base):
    """One photo version delivered in a batch, with its manifest row as written.

    ``kind`` repeats the batch's kind so the database itself refuses delivering the same
    photo version twice through the same channel (unique ``kind, photo_id``).
    """

    __tablename__ = "batch_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    arcname: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12))
    row: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    batch: Mapped[Batch] = relationship(back_populates="items")
    photo: Mapped[Photo] = relationship()
    student: Mapped[Student] = relationship()
    __table_args__ = (UniqueConstraint("batch_id", "photo_id"), UniqueConstraint("kind", "photo_id"))


# ---------------------------------------------------------------------- audit
class AuditEntry(Base):
    """Append-only log (UPDATE and DELETE are refused by database triggers)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(80))     # username, "cli:<os user>", "student", "system"
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    term_id: Mapped[int | None] = mapped_column(ForeignKey("terms.id"))
    photo_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    station: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# ---------------------------------------------------------------------- station nodes, sync
class StationToken(Base):
    """A station node's credential on the central server, scoped to one term and one unit.

    Only the SHA-256 of the token is stored; ``prefix`` (its first characters) names it
    in lists and the audit log."""

    __tablename__ = "station_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    created_by: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(80))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    term: Mapped[Term] = relationship()
    org_unit: Mapped[OrgUnit] = relationship()


class SyncReceipt(Base):
    """Central side: one outbox entry of a node, applied once (``entry_id`` is the node's id
    of the entry, unique, so pushing the same entry twice records it once)."""

    __tablename__ = "sync_receipts"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("station_tokens.id"), index=True)
    entry_id: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))       # applied | pending | conflict | recorded | skipped
    node_photo: Mapped[str | None] = mapped_column(String(80), index=True)  # "<node id>:p<photo id>"
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id"))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SyncOutbox(Base):
    """Node side: what is still to be sent to the central server, in order.

    One row per audit entry of the node (``entry_id`` = ``<node id>:<audit id>``); the
    kind says what the server applies besides keeping the entry: a captured photo (with
    its bytes, ``blobs``), a decision, a 采集码."""

    __tablename__ = "sync_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(16))          # photo | approve | retake | collect_code | audit
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    blobs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="waiting", index=True)  # waiting | sent | refused
    outcome: Mapped[str | None] = mapped_column(String(16))  # the server's answer for a sent entry
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class SyncState(Base):
    """Node side: small key → JSON values (node id, outbox cursor, last sync, online)."""

    __tablename__ = "sync_state"
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
