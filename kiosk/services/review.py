"""The review queue's manual resolution ("标记为已处理") of an open item."""
from __future__ import annotations

from sqlalchemy.orm import Session

from ..db import lock_rows
from ..models import ReviewItem, User, utcnow
from . import audit


class ReviewError(Exception):
    """``code`` is stable (``resolved``, ``note_required``), ``message`` Chinese."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def resolve(session: Session, item: ReviewItem, note: str, actor: User, *, ip: str | None = None) -> ReviewItem:
    """Mark ``item`` resolved with ``note``.  The item is locked and read again first, so
    of two people resolving it at once one records it and the other gets ``resolved``."""
    note = (note or "").strip()
    if item.status == "open" and note:
        session.flush()
        lock_rows(session, ReviewItem, [item.id])
        session.refresh(item)
    if item.status != "open":
        raise ReviewError("resolved", "该事项已处理")
    if not note:
        raise ReviewError("note_required", "请填写处理说明")
    item.status = "resolved"
    item.resolution = note[:1000]
    item.resolved_by_id = actor.id
    item.resolved_at = utcnow()
    session.flush()
    audit.record(session, "review.resolve", actor=actor, object_type="review_item", object_id=item.id,
                 term_id=item.term_id, ip=ip, kind=item.kind, xh=item.student.xh, resolution=note[:200])
    return item
