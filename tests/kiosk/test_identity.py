"""Identity against the enrolment photo with real corpus faces; identity review items and decisions."""
from __future__ import annotations

import pytest
from sqlalchemy import select

import qc
from kiosk.models import AuditEntry, PhotoStatus, ReviewItem, Role
from kiosk.services import identity, photos
from kiosk.services.photos import encoding_bytes
from qc.runner import make_context

from . import facephotos as fp
from .factories import setup_term, user


@pytest.fixture
def store(app):
    return app.extensions["kiosk_store"]


def _with_reference(student, corpus_name):
    student.reference_encoding = encoding_bytes(fp.encoding_of(fp.corpus(corpus_name)))
    student.reference_sha256 = "0" * 64
    return student


def _check(data, student):
    prof = qc.load_profile()
    ctx = make_context(data, prof)
    return qc.check_photo(ctx, prof, reference=identity.reference_for(student)), ctx


@pytest.mark.parametrize("reference,photo,expect", [
    ("damon_plain_1.jpg", "damon_plain_2.jpg", "pass"),        # same person, another photograph
    ("damon_plain_1.jpg", "damon_plain_3.jpg", "pass"),
    ("frll_009_neutral_front.jpg", "frll_009_neutral_front.jpg", "pass"),
    ("yale01_leftlight.png", "yale01_sleepy.png", "warn"),     # same person, side light vs eyes shut: 0.54
    ("damon_plain_1.jpg", "schneider_chip_1.jpg", "fail"),     # look-alike pair of the corpus README
    ("yale01_normal.png", "yale03_normal.png", "fail"),        # the two Yale subjects
    ("jolie_white_bg.jpg", "pichai_white_bg.jpg", "fail"),
])
def test_identity_match_on_real_faces(session, corpus_dir, reference, photo, expect):
    _t, _c, (st,) = setup_term(session, n=1)
    _with_reference(st, reference)
    report, _ctx = _check(fp.spec(photo), st)
    r = report["identity_match"]
    assert r.status.value == expect, (r.measured, r.message_en)
    status, d = identity.identity_result(report)
    assert status == expect and d == r.measured
    if expect == "pass":
        assert d <= 0.50
    elif expect == "fail":
        assert d > 0.60


def test_no_reference_means_not_assessed(session, corpus_dir):
    _t, _c, (st,) = setup_term(session, n=1)
    assert identity.reference_for(st) is None
    report, _ = _check(fp.spec("damon_plain_1.jpg"), st)
    assert report["identity_match"].status.value == "not_assessed"


def test_after_check_keeps_face_data_and_opens_items_for_warn_and_fail(session, store, corpus_dir):
    _t, _c, st = setup_term(session, n=3)
    _with_reference(st[0], "damon_plain_1.jpg")
    _with_reference(st[1], "yale01_leftlight.png")
    _with_reference(st[2], "damon_plain_1.jpg")
    op = user(session, "op1", org_unit_id=st[0].centre_id)
    out = {}
    for s, name in ((st[0], "damon_plain_2.jpg"), (st[1], "yale01_sleepy.png"), (st[2], "schneider_chip_1.jpg")):
        data = fp.spec(name)
        report, ctx = _check(data, s)
        p = photos.record_photo(session, store, s, original=data, spec=data, report=report, source="capture", actor=op)
        out[s.id] = (p, identity.after_check(session, p, report, op, ctx=ctx, station_name="S1"))
    p0, item0 = out[st[0].id]
    assert item0 is None and p0.identity_distance < 0.5
    assert len(p0.face_encoding) == 512 and p0.phash is not None
    p1, item1 = out[st[1].id]
    assert item1.kind == "identity" and item1.detail["verdict"] == "warn" and item1.status == "open"
    assert item1.photo_id == p1.id and item1.student_id == st[1].id and 0.5 < item1.distance <= 0.6
    p2, item2 = out[st[2].id]
    assert item2.detail["verdict"] == "fail" and p2.qc_verdict == "fail"
    # Calling it again does not open a second item.
    assert identity.after_check(session, p1, _check(fp.spec("yale01_sleepy.png"), st[1])[0], op) is item1
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "identity.open",
                                                   AuditEntry.object_id == str(item1.id))).station == "S1"
    # A failed identity can only be approved by an admin override (the fail verdict).
    with pytest.raises(photos.PhotoError) as e:
        photos.approve(session, p2, op)
    assert e.value.code == "fail_needs_admin"


def _identity_item(session, store, corpus_ref, corpus_photo, n_start=0):
    _t, _c, (st,) = setup_term(session, n=1, start=n_start)
    _with_reference(st, corpus_ref)
    data = fp.spec(corpus_photo)
    report, ctx = _check(data, st)
    p = photos.record_photo(session, store, st, original=data, spec=data, report=report, source="capture", actor="t")
    return st, p, identity.after_check(session, p, report, "t", ctx=ctx)


def test_decisions_on_identity_items(session, store, corpus_dir):
    st, p, warn_item = _identity_item(session, store, "yale01_leftlight.png", "yale01_sleepy.png")
    op = user(session, "op1", org_unit_id=st.centre_id)
    admin = user(session, "boss", role=Role.ADMIN)
    with pytest.raises(identity.DecisionError) as e:
        identity.decide(session, warn_item, "launch", op)
    assert e.value.code == "decision"
    with pytest.raises(identity.DecisionError) as e:
        identity.decide(session, warn_item, "hold", op)
    assert e.value.code == "note_required"
    identity.decide(session, warn_item, "hold", op, note="请学生带身份证来核对")
    assert warn_item.status == "open" and warn_item.detail["held"] and warn_item.detail["notes"][0]["note"]
    identity.decide(session, warn_item, "same_person", op)
    assert warn_item.status == "resolved" and warn_item.resolved_by_id == op.id
    assert warn_item.resolution == "same_person" and p.status == PhotoStatus.CAPTURED.value
    with pytest.raises(identity.DecisionError) as e:
        identity.decide(session, warn_item, "same_person", op)
    assert e.value.code == "resolved"

    _st2, p2, fail_item = _identity_item(session, store, "damon_plain_1.jpg", "schneider_chip_1.jpg", n_start=10)
    with pytest.raises(identity.DecisionError) as e:
        identity.decide(session, fail_item, "same_person", op, note="像")
    assert e.value.code == "admin_only"
    identity.decide(session, fail_item, "different_person", op, note="不是本人，代拍")
    assert p2.status == PhotoStatus.REJECTED.value and fail_item.status == "resolved"
    acts = [a.action for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert "photo.reject_identity" in acts and acts.count("identity.decide") == 3
    last = session.scalar(select(AuditEntry).where(AuditEntry.action == "identity.decide").order_by(AuditEntry.id.desc()))
    assert last.detail["decision"] == "different_person" and last.photo_sha256 == p2.sha256

    _st3, _p3, fail3 = _identity_item(session, store, "damon_plain_1.jpg", "schneider_chip_1.jpg", n_start=20)
    with pytest.raises(identity.DecisionError):
        identity.decide(session, fail3, "same_person", admin)          # the admin must give a reason
    identity.decide(session, fail3, "same_person", admin, note="本人证件核对无误，入学照片为多年前")
    assert fail3.status == "resolved"
    assert len(session.scalars(select(ReviewItem).where(ReviewItem.status == "open")).all()) == 0
