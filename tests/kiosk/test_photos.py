"""Photo versions and decisions: who may approve what, supersede, audit."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from kiosk.models import AuditEntry, Photo, QCReport, Role
from kiosk.services import photos
from kiosk.store import PhotoStore

from .factories import add_photo, setup_term, user


@pytest.fixture
def store(tmp_path):
    return PhotoStore(tmp_path / "photos")


def test_record_keeps_bytes_report_and_audit(session, store):
    _, _, (st, *_) = setup_term(session)
    p = add_photo(session, store, st, "warn")
    assert p.version == 1 and p.status == "captured" and p.qc_verdict == "warn"
    assert store.get(p.sha256)[:2] == b"\xff\xd8"
    rep = session.scalar(select(QCReport).where(QCReport.photo_id == p.id))
    assert rep.verdict == "warn" and rep.checks[1]["label_zh"] == "照片清晰度"
    e = session.scalar(select(AuditEntry).where(AuditEntry.action == "photo.capture"))
    assert e.photo_sha256 == p.sha256 and e.detail["xh"] == st.xh
    assert add_photo(session, store, st).version == 2


def test_pass_approves_and_previous_is_superseded_not_deleted(session, store):
    _, c, (st, *_) = setup_term(session)
    op = user(session, "op", org_unit_id=c.id)
    p1 = photos.approve(session, add_photo(session, store, st), op, station_name="S1")
    p2 = photos.approve(session, add_photo(session, store, st), op, station_name="S1")
    session.refresh(p1)
    assert (p1.status, p2.status) == ("superseded", "approved")
    assert photos.approved_photo(session, st.id).id == p2.id
    assert session.scalar(select(Photo).where(Photo.id == p1.id)) is not None
    acts = [(e.action, e.station, e.actor) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action in ("photo.approve", "photo.supersede")]
    assert acts == [("photo.approve", "S1", "op"), ("photo.supersede", "S1", "op"), ("photo.approve", "S1", "op")]


def test_warn_needs_checklist_for_operator(session, store):
    _, c, (st, *_) = setup_term(session)
    op = user(session, "op", org_unit_id=c.id)
    p = add_photo(session, store, st, "warn")
    with pytest.raises(photos.PhotoError) as e:
        photos.approve(session, p, op)
    assert e.value.code == "checklist_required"
    photos.approve(session, p, op, checklist_ok=True)
    assert p.status == "approved" and p.decision_note == "人工检查清单已确认"


def test_fail_only_by_admin_with_reason(session, store):
    _, c, (st, *_) = setup_term(session)
    op = user(session, "op", org_unit_id=c.id)
    admin = user(session, "boss", role=Role.ADMIN)
    p = add_photo(session, store, st, "fail")
    for actor, kw, code in [(op, {"checklist_ok": True}, "fail_needs_admin"), ("intake", {}, "fail_needs_admin"),
                            (admin, {}, "reason_required"), (admin, {"override_reason": "  "}, "reason_required")]:
        with pytest.raises(photos.PhotoError) as e:
            photos.approve(session, p, actor, **kw)
        assert e.value.code == code
    photos.approve(session, p, admin, override_reason="学生已毕业离校，证件照由本人确认")
    assert p.status == "approved" and p.override
    e = session.scalar(select(AuditEntry).where(AuditEntry.action == "photo.approve"))
    assert e.detail["override"] is True and "本人确认" in e.detail["reason"]


def test_retake_and_no_decision_twice(session, store):
    _, _, (st, *_) = setup_term(session)
    p = add_photo(session, store, st, "fail")
    photos.reject(session, p, "op", reason="闭眼")
    assert p.status == "rejected"
    with pytest.raises(photos.PhotoError):
        photos.approve(session, p, "op")
    with pytest.raises(photos.PhotoError):
        photos.reject(session, p, "op")


def test_unusable_original_is_kept_but_cannot_be_approved(session, store):
    _, _, (st, *_) = setup_term(session)
    p = photos.record_photo(session, store, st, original=b"raw camera bytes", spec=None, report=None,
                            source="capture", actor="op")
    assert p.status == "unusable" and store.get(p.original_sha256) == b"raw camera bytes"
    with pytest.raises(photos.PhotoError):
        photos.approve(session, p, "op")


def test_record_prepared_keeps_refused_frames(session, store):
    from capture.prepare import Prepared

    _, _, (st, *_) = setup_term(session)
    refused = Prepared(original_sha256="x", refusal={"code": "no_face", "message_zh": "未检测到人脸",
                                                     "message_en": "no face found", "hints": []})
    p = photos.record_prepared(session, store, st, b"raw frame", refused, source="capture", actor="op")
    assert p.status == "unusable" and p.sha256 is None and "no_face" in p.decision_note
    assert store.get(p.original_sha256) == b"raw frame"
