"""Organisational units (分部 → 学习中心) and imaging units."""
from __future__ import annotations

import re
from typing import Callable, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import begin_immediate
from ..models import ImagingUnit, OrgUnit

T = TypeVar("T")

DEFAULT_BRANCH = "本部"


def get_or_create(session: Session, find: Callable[[], "T | None"], make: Callable[[], T]) -> T:
    """The row ``find()`` returns, else a new one from ``make()``, added and flushed.

    Safe when another transaction creates the same row at the same moment (two rosters
    of two terms naming the same new 学习中心, two admins adding one account): on SQLite
    the look-up runs after taking the write lock, so it sees the other's commit; on
    PostgreSQL the insert waits for the other transaction on the unique index and, when
    that one committed the row, this one gets it from a second look-up instead of an
    IntegrityError that would sink the whole import.
    """
    begin_immediate(session)
    row = find()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = make()
            session.add(row)
            session.flush()
        return row
    except IntegrityError:
        row = find()
        if row is None:
            raise
        return row


def _code_for(name: str, prefix: str) -> str:
    slug = re.sub(r"\s+", "", name)
    return f"{prefix}:{slug}"[:40]


class OrgCache:
    """Resolve (分部, 学习中心) names to ``OrgUnit`` rows, creating them on first sight."""

    def __init__(self, session: Session):
        self.session = session
        self.by_key: dict[tuple[int | None, str], OrgUnit] = {}
        for u in session.scalars(select(OrgUnit)):
            self.by_key[(u.parent_id, u.name)] = u

    def branch(self, name: str | None) -> OrgUnit:
        name = (name or DEFAULT_BRANCH).strip() or DEFAULT_BRANCH
        key = (None, name)
        if key not in self.by_key:
            s = self.session
            self.by_key[key] = get_or_create(
                s, lambda: s.scalar(select(OrgUnit).where(OrgUnit.parent_id.is_(None), OrgUnit.name == name,
                                                          OrgUnit.kind == "branch").order_by(OrgUnit.id).limit(1)),
                lambda: OrgUnit(code=_unique_code(s, _code_for(name, "B")), name=name, kind="branch"))
        return self.by_key[key]

    def centre(self, name: str, branch_name: str | None = None) -> OrgUnit:
        name = name.strip()
        if branch_name is None:
            # A centre known under any branch is reused (rosters rarely carry 分部).
            for (pid, n), u in self.by_key.items():
                if pid is not None and n == name and u.kind == "centre":
                    return u
        parent = self.branch(branch_name)
        key = (parent.id, name)
        if key not in self.by_key:
            s = self.session
            self.by_key[key] = get_or_create(
                s, lambda: s.scalar(select(OrgUnit).where(OrgUnit.parent_id == parent.id, OrgUnit.name == name)),
                lambda: OrgUnit(code=_unique_code(s, _code_for(name, "C")), name=name, kind="centre",
                                parent_id=parent.id))
        return self.by_key[key]


def _unique_code(session: Session, code: str) -> str:
    base, n = code, 1
    while session.scalar(select(OrgUnit.id).where(OrgUnit.code == code)) is not None:
        n += 1
        code = f"{base[:36]}-{n}"
    return code


def unit_and_descendant_ids(session: Session, unit_id: int) -> set[int]:
    """``unit_id`` plus every unit below it."""
    ids = {unit_id}
    frontier = [unit_id]
    while frontier:
        kids = list(session.scalars(select(OrgUnit.id).where(OrgUnit.parent_id.in_(frontier))))
        kids = [k for k in kids if k not in ids]
        ids.update(kids)
        frontier = kids
    return ids


def find_unit(session: Session, code_or_name: str) -> OrgUnit | None:
    return session.scalar(select(OrgUnit).where((OrgUnit.code == code_or_name) | (OrgUnit.name == code_or_name)))


def ensure_imaging_unit(session: Session, name: str, code: str | None = None) -> ImagingUnit:
    u = session.scalar(select(ImagingUnit).where(ImagingUnit.name == name))
    if u is not None:
        return u
    return get_or_create(session, lambda: session.scalar(select(ImagingUnit).where(ImagingUnit.name == name)),
                         lambda: ImagingUnit(name=name, code=code or _code_for(name, "U")))
