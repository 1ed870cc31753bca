"""Small builders for kiosk tests: terms, students, users, photos with real JPEG bytes."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from kiosk.models import Role, Student
from kiosk.services import orgs, photos, terms, users
from qc.types import CheckResult, Report, Status

from .rosterdata import id_number


def jpeg(seed: int = 0, size=(480, 640)) -> bytes:
    """A real (if faceless) 480×640 baseline JPEG at 300 dpi, different for each seed."""
    rng = np.random.default_rng(seed)
    a = np.full((size[1], size[0], 3), (100, 197, 255), np.uint8)
    a[200:640, 120:360] = rng.integers(0, 255, 3)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=90, dpi=(300, 300))
    return buf.getvalue()


def report(verdict: str = "pass") -> Report:
    st = Status(verdict)
    return Report(profile="chsi_xueli_v1", profile_version="test", width=480, height=640,
                  checks=[CheckResult("dimensions", Status.PASS, "480×640", "480×640", "dimensions.ok"),
                          CheckResult("sharpness", st, 42.0, "≥ 60", f"sharpness.{verdict}",
                                      "" if st is Status.PASS else "照片不清晰：请对焦", "",
                                      label_zh="照片清晰度")])


def setup_term(session, code="2027-07", n=3, centre="雁塔学习中心", branch="西安分部", start=0):
    term = terms.ensure_term(session, code)
    c = orgs.OrgCache(session).centre(centre, branch)
    studs = []
    for i in range(start, start + n):
        s = Student(term_id=term.id, xh=f"2061001{i:06d}", name=f"学生{i}", gender="男",
                    id_number=id_number(i), centre_id=c.id, level="本科", major="行政管理", class_name="行管2024秋")
        session.add(s)
        studs.append(s)
    session.flush()
    return term, c, studs


def user(session, username, role=Role.OPERATOR, org_unit_id=None, imaging_unit_id=None):
    return users.create_user(session, username, "password-123", role, org_unit_id=org_unit_id,
                             imaging_unit_id=imaging_unit_id, actor="test")


def add_photo(session, store, student, verdict="pass", seed=None, actor="test", **kw):
    data = jpeg(seed if seed is not None else student.id * 100 + photos.next_version(session, student.id))
    return photos.record_photo(session, store, student, original=data, spec=data, report=report(verdict),
                               source=kw.pop("source", "capture"), actor=actor, **kw)
