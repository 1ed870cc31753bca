"""Organisational units (分部 → 学习中心) and imaging units."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import ImagingUnit, OrgUnit

DEFAULT_BRANCH = "本部"


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
            u = OrgUnit(code=_unique_code(self.session, _code_for(name, "B")), name=name, kind="branch")
            self.session.add(u)
            self.session.flush()
            self.by_key[key] = u
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
            u = OrgUnit(code=_unique_code(self.session, _code_for(name, "C")), name=name, kind="centre",
                        parent_id=parent.id)
            self.session.add(u)
            self.session.flush()
            self.by_key[key] = u
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
    if u is None:
        u = ImagingUnit(name=name, code=code or _code_for(name, "U"))
        session.add(u)
        session.flush()
    return u
