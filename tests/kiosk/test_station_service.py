"""kiosk.services.station and kiosk.pinyin without the web: the call list, camera
configuration, pinyin keys and their migration."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from kiosk.db import Database
from kiosk.models import ReviewItem, Student, StationCall
from kiosk.pinyin import is_pinyin_query, search_key
from kiosk.services import station as svc
from kiosk.services import students

from .factories import add_photo, setup_term, user


def test_pinyin_keys_cover_full_spelling_initials_and_surname_readings():
    assert search_key("张三") == "zhangsan zs"
    k = search_key("单雄信")
    assert "danxiongxin" in k and "shanxiongxin" in k and "sxx" in k
    assert search_key("") is None and search_key(None) is None
    assert is_pinyin_query("zs") and is_pinyin_query("xuesheng1") and not is_pinyin_query("2061") \
        and not is_pinyin_query("z")


def test_search_by_pinyin_and_initials(session):
    term, centre, studs = setup_term(session, n=2)
    studs[0].name = "曾国藩"
    session.flush()
    for q in ("zengguofan", "ZGF", "zeng guo", "guofan"):
        rows, _ = students.search(session, term.id, q, None)
        assert [r.id for r in rows] == [studs[0].id], q


def test_search_by_letters_in_the_xh_ignores_case(session):
    """学号 may hold letters; typing them in lower case finds the student on PostgreSQL
    too (whose LIKE, unlike SQLite's, is case-sensitive)."""
    term, centre, studs = setup_term(session, n=2)
    studs[0].xh = "XA20610001"
    session.flush()
    for q in ("XA2061", "xa2061", "Xa20610001"):
        rows, total = students.search(session, term.id, q, None)
        assert [r.id for r in rows] == [studs[0].id] and total == 1, q


@pytest.mark.parametrize("backend", ["sqlite", "pg"])
def test_migration_fills_pinyin_for_existing_students(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    db = Database(url)
    db.upgrade("0002")
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO terms (code, name, created_at) VALUES ('2027-07', 't', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO students (term_id, xh, name, id_number, id_legacy, created_at, updated_at) "
                          "SELECT id, '001', '李四', '11010519491231002X', FALSE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
                          "FROM terms"))
    db.upgrade()
    with db.session() as s:
        assert s.scalar(select(Student.name_pinyin)) == "lisi ls"
    db.engine.dispose()


def test_call_queue_order_and_students_at_a_camera_are_left_out(session, app):
    store = app.extensions["kiosk_store"]
    term, centre, studs = setup_term(session, n=5)
    op = user(session, "op", org_unit_id=centre.id)
    op2 = user(session, "op2", org_unit_id=centre.id)
    scope = {centre.id}
    cs = svc.start_session(session, op, term, station_name="A")
    other = svc.start_session(session, op2, term, station_name="B")
    from kiosk.services import photos
    photos.approve(session, add_photo(session, store, studs[0]), "test")      # done
    session.add(ReviewItem(term_id=term.id, kind="self_report", student_id=studs[3].id, status="open"))
    item = ReviewItem(term_id=term.id, kind="qc_warn", student_id=studs[0].id, status="open")
    session.add(item)
    session.flush()
    call, created = svc.call_student(session, item, op)
    assert created and svc.call_student(session, item, op) == (call, False)
    svc.select_student(session, other, studs[1], op2)                          # at the other camera
    q = [(x["student"].id, x["reason"]) for x in svc.call_queue(session, cs, scope)]
    assert q == [(studs[0].id, "复核：质检提醒"), (studs[3].id, "学生报告有误"), (studs[2].id, "尚无合格照片"),
                 (studs[4].id, "尚无合格照片")]
    assert svc.progress(session, cs, scope) == {"total": 5, "captured": 1, "approved": 1, "remaining": 4,
                                                "session_captured": 0, "session_approved": 0}
    assert session.scalar(select(StationCall.reason)) == "复核：质检提醒"


def test_a_new_session_ends_the_operators_and_the_stations_open_ones(session):
    term, centre, _ = setup_term(session, n=1)
    op = user(session, "op", org_unit_id=centre.id)
    op2 = user(session, "op2", org_unit_id=centre.id)
    first = svc.start_session(session, op, term, station_name="A")
    second = svc.start_session(session, op2, term, station_name="A")     # same station
    assert first.ended_at is not None and second.ended_at is None and first.station_id == second.station_id
    third = svc.start_session(session, op2, term, station_name="B")      # same operator
    assert second.ended_at is not None and svc.open_session(session, op2).id == third.id
    assert svc.open_session(session, op) is None


def test_camera_configuration(tmp_path):
    assert svc.camera_config("browser") == {"kind": "browser"}
    assert svc.camera_config("opencv", "2") == {"kind": "opencv", "device": 2, "width": 1280, "height": 720}
    assert svc.camera_config("opencv", "/dev/video4")["device"] == "/dev/video4"
    assert svc.camera_config("hotfolder", str(tmp_path)) == {"kind": "hotfolder", "path": str(tmp_path.resolve())}
    for kind, value in (("hotfolder", ""), ("hotfolder", str(tmp_path / "nope")), ("opencv", "no-such-thing"),
                        ("webcam", "")):
        with pytest.raises(svc.StationError) as e:
            svc.camera_config(kind, value)
        assert e.value.code == "bad_camera" and e.value.message


def test_capture_compares_with_the_enrolment_photo_and_opens_an_identity_item(session, app, corpus_dir):
    """Station capture uses the identity service: another person's face under this 学号
    fails identity_match, opens an identity review item, and cannot be approved by the
    operator."""
    import io

    from PIL import Image

    from kiosk.services import photos
    from qc.context import PhotoContext
    from tests.qc import fixtures as fx

    store = app.extensions["kiosk_store"]
    term, centre, (st, same) = setup_term(session, n=2)
    op = user(session, "op", org_unit_id=centre.id)
    cs = svc.start_session(session, op, term, station_name="A")
    frame = io.BytesIO()
    Image.fromarray(fx.camera_frame(corpus_dir / "frll_009_neutral_front.jpg")).save(frame, "JPEG", quality=100)
    other = PhotoContext(corpus_dir / "damon_plain_1.jpg")
    st.reference_encoding = photos.encoding_bytes(other.encoding)          # enrolled as someone else
    same.reference_encoding = photos.encoding_bytes(PhotoContext(corpus_dir / "frll_009_neutral_front.jpg").encoding)
    session.flush()

    photo, prepared = svc.capture(session, store, cs, st, frame.getvalue(), op)
    assert prepared.report["identity_match"].status.value == "fail"
    assert photo.identity_distance > 0.6 and photo.face_encoding is not None
    item = session.scalar(select(ReviewItem).where(ReviewItem.photo_id == photo.id, ReviewItem.kind == "identity"))
    assert item is not None and item.status == "open"
    with pytest.raises(photos.PhotoError):
        photos.approve(session, photo, op, checklist_ok=True)

    photo2, prepared2 = svc.capture(session, store, cs, same, frame.getvalue(), op)
    assert prepared2.report["identity_match"].status.value == "pass"
    assert session.scalar(select(ReviewItem).where(ReviewItem.photo_id == photo2.id)) is None
