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


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)
