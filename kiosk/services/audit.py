"""Append-only audit log: who did what, when, with which photo."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..models import AuditEntry, User


def entry(action: str, *, actor: User | str | None = None, object_type: str | None = None, object_id: Any = None,
          term_id: int | None = None, photo_sha256: str | None = None, station: str | None = None,
          ip: str | None = None, **detail: Any) -> AuditEntry:
    """An audit entry, not yet added to a session (bulk writers add many, flush once)."""
    if isinstance(actor, User):
        actor_id, actor_name = actor.id, actor.username
    else:
        actor_id, actor_name = None, actor or "system"
    return AuditEntry(actor_id=actor_id, actor=actor_name, action=action, object_type=object_type,
                      object_id=None if object_id is None else str(object_id), term_id=term_id,
                      photo_sha256=photo_sha256, station=station, ip=ip, detail=_jsonable(detail))


def record(session: Session, action: str, *, actor: User | str | None = None,
           object_type: str | None = None, object_id: Any = None, term_id: int | None = None,
           photo_sha256: str | None = None, station: str | None = None, ip: str | None = None,
           **detail: Any) -> AuditEntry:
    """Add one audit entry (flushed, not committed).

    ``actor`` is a :class:`User`, a label such as ``"cli:root"``/``"student"``/``"system"``,
    or ``None`` for the system.
    """
    e = entry(action, actor=actor, object_type=object_type, object_id=object_id, term_id=term_id,
              photo_sha256=photo_sha256, station=station, ip=ip, **detail)
    session.add(e)
    session.flush()
    return e


#: Characters ``audit_log.object_id`` holds (SQLite would store more; PostgreSQL refuses).
OBJECT_ID_MAX = AuditEntry.__table__.c.object_id.type.length


def record_ids(session: Session, action: str, ids, **kw: Any) -> list[AuditEntry]:
    """One audit entry about several objects, their ids comma-joined in ``object_id``
    (as :func:`kiosk.services.identity.item_history` reads them).  A list longer than the
    column is split over as many entries as needed, each with the same detail and
    ``part``/``parts`` — never cut, never a database error."""
    groups: list[str] = []
    for i in (str(x) for x in ids):
        if groups and len(groups[-1]) + 1 + len(i) <= OBJECT_ID_MAX:
            groups[-1] += "," + i
        else:
            groups.append(i)
    if len(groups) == 1:
        return [record(session, action, object_id=groups[0], **kw)]
    return [record(session, action, object_id=g, part=n, parts=len(groups), **kw)
            for n, g in enumerate(groups, 1)]


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)
