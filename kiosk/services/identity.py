"""Identity: the new photo against the student's enrolment photo, and decisions on
identity / duplicate review items (issue 8).

What the capture station and the bulk intake call::

    from kiosk.services import identity
    from qc.runner import make_context

    ctx = make_context(spec_bytes, profile)                     # keep the context: its face
    report = qc.check_photo(ctx, profile,                       # encoding is computed once
                            reference=identity.reference_for(student))
    photo = photos.record_photo(session, store, student, ..., report=report)
    identity.after_check(session, photo, report, actor, ctx=ctx)

``after_check`` stores the face encoding and face hash on the photo (for the duplicate
search), the distance to the reference, and opens an ``identity`` review item when
``identity_match`` warns (operator compares side by side) or fails (only an admin can
then approve — that already follows from the fail verdict in ``photos.approve``).

Approving a photo runs :func:`kiosk.services.duplicates.check_approved_photo` through
``photos.on_approved`` (registered once by :func:`register_hooks`, called from
``create_app``).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import lock_rows
from ..models import Photo, PhotoStatus, ReviewItem, ReviewKind, Role, Student, User, utcnow
from . import audit, duplicates, photos
from .photos import encoding_array, encoding_bytes

log = logging.getLogger(__name__)

IDENTITY = ReviewKind.IDENTITY.value


class DecisionError(Exception):
    """A decision that is not allowed; ``code`` is stable, ``message`` Chinese."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- hooks
def register_hooks() -> None:
    """Put :func:`retire_moot_items` and the duplicate check on ``photos.on_approved``,
    each exactly once (idempotent), in that order."""
    for hook in (retire_moot_items, duplicates.check_approved_photo):
        if hook not in photos.on_approved:
            photos.on_approved.append(hook)


def retire_moot_items(session: Session, photo: Photo, actor: Any = None) -> list[ReviewItem]:
    """When a new photo of a student is approved, open identity / duplicate items about the
    student's *earlier* photos no longer matter (those photos are superseded or were never
    used): resolve them as ``photo_replaced``, with an audit entry.  A retake that still
    matches is caught again by the duplicate check that runs next."""
    earlier = select(Photo.id).where(Photo.student_id == photo.student_id, Photo.id != photo.id)
    moot = session.scalars(select(ReviewItem).where(
        ReviewItem.status == "open", ReviewItem.kind.in_((IDENTITY,) + duplicates.DUPLICATE_KINDS),
        (ReviewItem.photo_id.in_(earlier)) | (ReviewItem.other_photo_id.in_(earlier)))).all()
    now = utcnow()
    for it in moot:
        it.status = "resolved"
        it.resolved_by_id = actor.id if isinstance(actor, User) else None
        it.resolved_at = now
        it.resolution = f"photo_replaced：照片已由新批准的照片（#{photo.id}）取代"
    if moot:
        session.flush()
        audit.record_ids(session, "review.auto_resolve", [i.id for i in moot], actor=actor,
                         object_type="review_item", term_id=photo.student.term_id, photo_sha256=photo.sha256,
                         xh=photo.student.xh, reason="photo_replaced", by_photo=photo.id)
    return moot


# --------------------------------------------------------------------------- reference
def reference_for(student: Student | None) -> np.ndarray | None:
    """The student's enrolment-photo encoding, ``(128,)`` float32, or ``None``.

    Pass it as ``reference=`` to :func:`qc.check_photo`.
    """
    if student is None:
        return None
    enc = encoding_array(student.reference_encoding)
    if enc is None or enc.shape != (128,):
        return None
    return enc.copy()


def identity_result(report) -> tuple[str | None, float | None]:
    """``(status, distance)`` of the report's ``identity_match`` check (``None``s when absent)."""
    try:
        r = report["identity_match"]
    except (KeyError, TypeError):
        return None, None
    status = getattr(r.status, "value", r.status)
    d = r.measured if isinstance(r.measured, (int, float)) else None
    return status, (None if d is None else float(d))


def after_check(session: Session, photo: Photo, report, actor: User | str | None, *, ctx=None,
                ip: str | None = None, station_name: str | None = None) -> ReviewItem | None:
    """Call once after ``record_photo``: keep face data, the distance, open an identity item.

    Parameters
    ----------
    photo : Photo
        The recorded photo.
    report : qc.types.Report
        Its QC report (checked with ``reference=reference_for(student)``).
    ctx : qc.context.PhotoContext, optional
        The context the report was made from: its face encoding (computed once) and a
        face hash are stored on the photo for the duplicate search.

    Returns
    -------
    ReviewItem or None
        The ``identity`` item opened (or already open) for a warn/fail, else ``None``.
    """
    if ctx is not None and (photo.face_encoding is None or
                            (photo.phash is None and photo.face_encoding != duplicates.NO_FACE)):
        try:
            enc, ph = duplicates.face_data_from(ctx)
        except Exception:  # noqa: BLE001 - face data is an extra; the photo is recorded
            log.exception("face data for photo %s failed", photo.id)
            enc, ph = None, None
        if photo.face_encoding is None:
            photo.face_encoding = encoding_bytes(enc) if enc is not None else duplicates.NO_FACE
        photo.phash = ph
    status, d = identity_result(report)
    if d is not None:
        photo.identity_distance = d
    session.flush()
    if status not in ("warn", "fail"):
        return None
    item = session.scalar(select(ReviewItem).where(ReviewItem.kind == IDENTITY, ReviewItem.photo_id == photo.id,
                                                   ReviewItem.status == "open"))
    if item is not None:
        return item
    st = photo.student
    code = report["identity_match"].code
    item = ReviewItem(term_id=st.term_id, kind=IDENTITY, status="open", student_id=st.id, photo_id=photo.id,
                      distance=d, detail={"verdict": status, "code": code, "reference_sha256": st.reference_sha256})
    session.add(item)
    session.flush()
    audit.record(session, "identity.open", actor=actor, object_type="review_item", object_id=item.id,
                 term_id=st.term_id, photo_sha256=photo.sha256, station=station_name, ip=ip, xh=st.xh,
                 distance=d, verdict=status, reference_sha256=st.reference_sha256)
    return item


# --------------------------------------------------------------------------- decisions
#: Decisions per kind: code → (Chinese label, admin only, note required).
IDENTITY_DECISIONS = {
    "same_person": ("是本人：保留照片，关闭此项", False, False),
    "different_person": ("不是本人：作废这张照片（需重拍）", False, True),
    "hold": ("暂缓：待进一步核实", False, True),
}
DUPLICATE_DECISIONS = {
    "keep_both": ("不是同一人（或两个学号均属实）：两张照片均保留，解除暂缓", False, True),
    "reject_this": ("作废本学生的照片（需重拍）", False, True),
    "reject_other": ("作废另一学生的照片（需重拍）", False, True),
    "hold": ("暂缓：待进一步核实（两人均不进入上传批次）", False, True),
}


def decisions_for(item: ReviewItem) -> dict[str, tuple[str, bool, bool]]:
    """The decisions offered for ``item`` (code → label, admin only, note required)."""
    if item.kind == IDENTITY:
        out = dict(IDENTITY_DECISIONS)
        if (item.detail or {}).get("verdict") == "fail":
            # A clear mismatch is only waved through by an admin, with a reason.
            out["same_person"] = ("确认是本人（管理员，须填写理由）：保留照片", True, True)
        return out
    if item.kind in duplicates.DUPLICATE_KINDS:
        return dict(DUPLICATE_DECISIONS)
    return {}


def _is_admin(actor) -> bool:
    return isinstance(actor, User) and actor.role == Role.ADMIN.value


def withdraw(session: Session, photo: Photo, actor: User | str | None, *, reason: str,
             ip: str | None = None) -> Photo:
    """Take back a photo after an identity/duplicate decision: an undecided one is rejected
    (retake); an approved one is withdrawn (``rejected``; the student needs a new photo)."""
    if photo.status in photos.DECIDABLE:
        return photos.reject(session, photo, actor, reason=reason, action="photo.reject_identity", ip=ip)
    if photo.status != PhotoStatus.APPROVED.value:
        return photo  # already rejected / superseded / unusable: nothing to take back
    photo.status = PhotoStatus.REJECTED.value
    photo.decided_by_id = actor.id if isinstance(actor, User) else None
    photo.decided_at = utcnow()
    photo.decision_note = reason or None
    session.flush()
    audit.record(session, "photo.withdraw", actor=actor, object_type="photo", object_id=photo.id,
                 photo_sha256=photo.sha256, term_id=photo.student.term_id, ip=ip, xh=photo.student.xh,
                 reason=reason)
    return photo


def decide(session: Session, item: ReviewItem, decision: str, actor: User | str | None, *,
           note: str = "", ip: str | None = None) -> list[ReviewItem]:
    """Record a decision on an identity or duplicate item (both sides of a duplicate pair).

    Returns the items changed.  Raises :class:`DecisionError` for a decision that is not
    offered, not allowed to ``actor`` or missing its note, or for a resolved item.
    """
    offered = decisions_for(item)
    if decision not in offered:
        raise DecisionError("decision", "不支持的处理方式")
    # Two reviewers may decide the same item (or both sides of a pair) at once: lock the
    # students involved (as an approval does) and read the item again under the lock.
    session.flush()
    lock_rows(session, Student, [item.student_id, item.other_student_id])
    session.refresh(item)
    if item.status != "open":
        raise DecisionError("resolved", "该事项已处理")
    label, admin_only, note_required = offered[decision]
    note = (note or "").strip()
    if admin_only and not _is_admin(actor):
        raise DecisionError("admin_only", "与参考照片明显不符，只有管理员可以确认是本人")
    if note_required and not note:
        raise DecisionError("note_required", "请填写处理说明")
    if item.kind == IDENTITY:
        items = [item]
    else:
        items = [i for i in duplicates.pair_items(session, item.photo_id, item.other_photo_id, status="open")] or [item]
    photo_changed = None
    if decision == "different_person":
        photo_changed = withdraw(session, item.photo, actor, reason=f"与参考照片不是同一人：{note}", ip=ip)
    elif decision == "reject_this":
        photo_changed = withdraw(session, item.photo, actor, reason=f"疑似重复（另一学号 {item.other_student.xh}）：{note}",
                                 ip=ip)
    elif decision == "reject_other":
        photo_changed = withdraw(session, item.other_photo, actor, reason=f"疑似重复（另一学号 {item.student.xh}）：{note}",
                                 ip=ip)
    now = utcnow()
    if photo_changed is not None:
        # Other open items about the photo just taken back no longer matter.
        items += [i for i in session.scalars(select(ReviewItem).where(
            ReviewItem.status == "open", ReviewItem.kind.in_((IDENTITY,) + duplicates.DUPLICATE_KINDS),
            (ReviewItem.photo_id == photo_changed.id) | (ReviewItem.other_photo_id == photo_changed.id)))
            if i not in items]
    for it in items:
        if decision == "hold":
            det = dict(it.detail or {})
            det["held"] = True
            det.setdefault("notes", []).append({"at": now.isoformat(timespec="seconds"),
                                                "by": getattr(actor, "username", actor or "system"), "note": note})
            it.detail = det
        else:
            it.status = "resolved"
            it.resolved_by_id = actor.id if isinstance(actor, User) else None
            it.resolved_at = now
            it.resolution = f"{decision}：{note}" if note else decision
    session.flush()
    action = "identity.decide" if item.kind == IDENTITY else "duplicate.decide"
    audit.record_ids(session, action, [i.id for i in items], actor=actor, object_type="review_item",
                     term_id=item.term_id,
                     photo_sha256=item.photo.sha256 if item.photo else None, ip=ip, decision=decision, label=label,
                     note=note, kind=item.kind, xh=item.student.xh,
                     other_xh=item.other_student.xh if item.other_student else None,
                     other_photo_sha256=item.other_photo.sha256 if item.other_photo else None,
                     distance=item.distance, photo_changed=photo_changed.id if photo_changed is not None else None)
    return items


def item_history(session: Session, item: ReviewItem) -> list[Any]:
    """Audit entries about ``item`` (its opening and decisions), oldest first."""
    from ..models import AuditEntry  # noqa: PLC0415

    rows = session.scalars(select(AuditEntry).where(AuditEntry.object_type == "review_item",
                                                    AuditEntry.action.in_(("identity.open", "identity.decide",
                                                                           "duplicate.open", "duplicate.decide")),
                                                    AuditEntry.object_id.like(f"%{item.id}%"))
                           .order_by(AuditEntry.id)).all()
    mine = str(item.id)
    return [r for r in rows if mine in (r.object_id or "").split(",")]
