"""Same face / same photograph under two 学号: the approval hook, the term scan, decisions."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select

import qc.faces
from kiosk import create_app
from kiosk.cli import main as cli
from kiosk.db import get_db
from kiosk.models import AuditEntry, PhotoStatus, ReviewItem, Role, Student
from kiosk.services import duplicates, identity, photos, terms
from kiosk.services.duplicates import FACE_MAX, NO_FACE, PHASH_MAX_BITS

from . import facephotos as fp
from .factories import add_photo, report, setup_term, user


@pytest.fixture
def store(app):
    return app.extensions["kiosk_store"]


@pytest.fixture
def s(session, store):
    # Outside a request the hook finds the photo store here (the CLI and jobs do the same).
    session.info["kiosk_store"] = store
    return session


def approve(session, store, student, data, actor="test"):
    p = photos.record_photo(session, store, student, original=data, spec=data, report=report("pass"),
                            source="intake", actor=actor)
    return photos.approve(session, p, actor)


def items(session, **kw):
    stmt = select(ReviewItem).where(ReviewItem.kind.in_(duplicates.DUPLICATE_KINDS))
    for k, v in kw.items():
        stmt = stmt.where(getattr(ReviewItem, k) == v)
    return session.scalars(stmt.order_by(ReviewItem.id)).all()


def test_hook_is_registered_once():
    import tempfile

    for _ in range(3):
        create_app({"INSTANCE_PATH": tempfile.mkdtemp(), "TESTING": True, "SECRET_KEY": "x"})
    assert photos.on_approved.count(duplicates.check_approved_photo) == 1
    assert photos.on_approved.index(identity.retire_moot_items) < photos.on_approved.index(
        duplicates.check_approved_photo)


def test_a_new_approved_photo_retires_items_about_the_old_one(s, store, corpus_dir):
    _t, _c, (a, b) = setup_term(s, n=2)
    approve(s, store, a, fp.spec("damon_plain_1.jpg"))
    approve(s, store, b, fp.recoded(fp.spec("damon_plain_1.jpg")))       # b's photo is a's
    assert duplicates.held_student_ids(s) == {a.id, b.id}
    approve(s, store, b, fp.spec("frll_009_neutral_front.jpg"))          # b retakes: the real b
    assert all(i.status == "resolved" and i.resolution.startswith("photo_replaced") for i in items(s))
    assert duplicates.held_student_ids(s) == set()
    assert s.scalar(select(AuditEntry).where(AuditEntry.action == "review.auto_resolve")) is not None
    approve(s, store, b, fp.spec("damon_plain_3.jpg"))                   # a retake that is a again
    assert duplicates.held_student_ids(s) == {a.id, b.id}


def test_resized_reencoded_copy_under_a_second_xh_opens_file_items_for_both(s, store, corpus_dir):
    _t, _c, (a, b, c) = setup_term(s, n=3)
    pa = approve(s, store, a, fp.spec("damon_plain_1.jpg"))
    assert items(s) == []
    assert len(pa.face_encoding) == 512 and pa.phash is not None   # computed once, stored
    pb = approve(s, store, b, fp.recoded(fp.spec("damon_plain_1.jpg"), scale=0.7, quality=70))
    got = items(s)
    assert [(i.student_id, i.other_student_id, i.kind, i.status) for i in got] == [
        (b.id, a.id, "duplicate_file", "open"), (a.id, b.id, "duplicate_file", "open")]
    assert got[0].photo_id == pb.id and got[0].other_photo_id == pa.id
    assert got[0].detail["exact"] is False and got[0].detail["bits"] <= PHASH_MAX_BITS
    assert got[0].distance <= FACE_MAX and got[1].detail["other_xh"] == b.xh
    assert duplicates.held_student_ids(s, a.term_id) == {a.id, b.id}
    assert c.id not in duplicates.held_student_ids(s)
    opened = s.scalar(select(AuditEntry).where(AuditEntry.action == "duplicate.open"))
    assert opened.detail["xh_a"] == b.xh and opened.detail["xh_b"] == a.xh and opened.detail["source"] == "approval"


def test_identical_bytes_and_mirrored_copy_are_file_duplicates(s, store, corpus_dir):
    _t, _c, (a, b, c) = setup_term(s, n=3)
    pa = approve(s, store, a, fp.spec("frll_009_neutral_front.jpg"))
    approve(s, store, b, fp.spec("frll_009_neutral_front.jpg"))
    exact = items(s, student_id=b.id)
    assert len(exact) == 1 and exact[0].detail["exact"] is True and exact[0].other_photo_id == pa.id
    approve(s, store, c, fp.mirrored(fp.spec("frll_009_neutral_front.jpg")))
    mirror = items(s, student_id=c.id)
    assert {i.other_student_id for i in mirror} == {a.id, b.id}
    assert all(i.kind == "duplicate_file" and not i.detail["exact"] for i in mirror)


def test_another_photo_of_the_same_person_is_a_face_duplicate(s, store, corpus_dir):
    _t, _c, (a, b) = setup_term(s, n=2)
    approve(s, store, a, fp.spec("damon_plain_1.jpg"))
    approve(s, store, b, fp.spec("damon_plain_3.jpg"))
    got = items(s)
    assert [i.kind for i in got] == ["duplicate_face", "duplicate_face"]
    assert 0.3 < got[0].distance <= FACE_MAX and got[0].detail["bits"] > PHASH_MAX_BITS


def test_different_people_including_look_alikes_open_nothing(s, store, corpus_dir):
    _t, _c, st = setup_term(s, n=6)
    for student, name in zip(st, ("damon_plain_1.jpg", "schneider_chip_1.jpg", "yale01_normal.png",
                                  "yale03_normal.png", "jolie_white_bg.jpg", "frll_009_neutral_front.jpg")):
        approve(s, store, student, fp.spec(name))
    assert items(s) == []
    assert duplicates.held_student_ids(s) == set()


def test_deferred_approvals_are_searched_once_at_the_end(s, store, corpus_dir, monkeypatch):
    _t, _c, (a, b, c, d) = setup_term(s, n=4)
    approve(s, store, a, fp.spec("damon_plain_1.jpg"))
    calls = []
    real = duplicates.approved_rows
    monkeypatch.setattr(duplicates, "approved_rows", lambda *x, **k: calls.append(1) or real(*x, **k))
    with duplicates.deferred(s, "intake", source="intake"):
        approve(s, store, b, fp.recoded(fp.spec("damon_plain_1.jpg")))      # copy of a's photo
        approve(s, store, c, fp.spec("frll_009_neutral_front.jpg"))
        approve(s, store, d, fp.spec("frll_009_neutral_front.jpg"))         # same bytes as c's
        assert items(s) == [] and calls == []
    assert len(calls) == 1                                                  # one query, one scan
    got = {(i.student_id, i.other_student_id, i.kind) for i in items(s)}
    assert got == {(b.id, a.id, "duplicate_file"), (a.id, b.id, "duplicate_file"),
                   (c.id, d.id, "duplicate_file"), (d.id, c.id, "duplicate_file")}
    assert all(i.detail["source"] == "intake" for i in items(s))
    with pytest.raises(RuntimeError):
        with duplicates.deferred(s, "intake"):
            raise RuntimeError("job failed")
    assert duplicates._DEFER not in s.info


def test_face_hash_is_computed_only_for_photos_that_match_by_face(s, store, corpus_dir):
    # As recorded by capture.prepare(want_encoding=True): an encoding, no face hash.
    _t, _c, (a, b, c) = setup_term(s, n=3)

    def with_encoding(student, data):
        p = photos.record_photo(s, store, student, original=data, spec=data, report=report("pass"), source="intake",
                                actor="t", encoding=fp.encoding_of(data))
        return photos.approve(s, p, "t")

    pa = with_encoding(a, fp.spec("damon_plain_1.jpg"))
    pc = with_encoding(c, fp.spec("frll_009_neutral_front.jpg"))
    assert pa.phash is None and pc.phash is None          # no match: nothing decoded
    pb = with_encoding(b, fp.recoded(fp.spec("damon_plain_1.jpg"), scale=0.8))
    assert pa.phash is not None and pb.phash is not None and pc.phash is None
    assert [i.kind for i in items(s)] == ["duplicate_file", "duplicate_file"]


def test_faceless_photos_match_only_on_identical_bytes(s, store):
    _t, _c, (a, b, c) = setup_term(s, n=3)
    pa = photos.approve(s, add_photo(s, store, a, seed=7), "test")
    assert pa.face_encoding == NO_FACE and pa.phash is None
    photos.approve(s, add_photo(s, store, b, seed=8), "test")
    assert items(s) == []
    photos.approve(s, add_photo(s, store, c, seed=7), "test")
    got = items(s, student_id=c.id)
    assert len(got) == 1 and got[0].detail["exact"] and got[0].distance is None


def test_same_student_in_another_term_is_not_a_duplicate_but_another_xh_is(s, store, corpus_dir):
    _t1, _c, (a,) = setup_term(s, code="2027-01", n=1)
    t2 = terms.ensure_term(s, "2027-07")
    t3 = terms.ensure_term(s, "2028-01")
    again = Student(term_id=t2.id, xh=a.xh, name=a.name, id_number=a.id_number, centre_id=a.centre_id)
    new_xh = Student(term_id=t3.id, xh="2071009000001", name=a.name, id_number=a.id_number, centre_id=a.centre_id)
    s.add_all([again, new_xh])
    s.flush()
    approve(s, store, a, fp.spec("damon_plain_1.jpg"))
    approve(s, store, again, fp.spec("damon_plain_2.jpg"))      # same 学号, later term
    approve(s, store, new_xh, fp.spec("damon_plain_3.jpg"))     # same 身份证号 under a new 学号 (专升本)
    assert items(s) == []
    stranger = Student(term_id=t2.id, xh="2071009000002", name="某人", id_number="11010519491231002X",
                       centre_id=a.centre_id)
    s.add(stranger)
    s.flush()
    approve(s, store, stranger, fp.recoded(fp.spec("damon_plain_1.jpg")))   # earlier term's photo, other person
    got = items(s, student_id=stranger.id)
    assert {i.other_student_id for i in got} == {a.id, again.id, new_xh.id}
    mirror = items(s, other_student_id=stranger.id)
    assert {i.term_id for i in mirror} == {a.term_id, t2.id, t3.id}


def test_decisions_resolve_both_sides_and_release_the_hold(s, store, corpus_dir):
    _t, _c, (a, b, c, d) = setup_term(s, n=4)
    op = user(s, "op1", org_unit_id=a.centre_id)
    approve(s, store, a, fp.spec("damon_plain_1.jpg"))
    pb = approve(s, store, b, fp.spec("damon_plain_3.jpg"))
    item = items(s, student_id=a.id)[0]
    with pytest.raises(identity.DecisionError):
        identity.decide(s, item, "keep_both", op)          # a note is required
    identity.decide(s, item, "hold", op, note="等学生本人来核对")
    assert duplicates.held_student_ids(s) == {a.id, b.id}
    changed = identity.decide(s, item, "keep_both", op, note="双胞胎兄弟，证件已核对")
    assert len(changed) == 2 and all(i.status == "resolved" for i in items(s))
    assert duplicates.held_student_ids(s) == set()
    assert pb.status == PhotoStatus.APPROVED.value
    # Resolved pairs are not reopened by a scan.
    assert duplicates.open_items(s, duplicates.scan_term(s, a.term).matches, "test") == []
    # The other way out: the other student's photo is withdrawn (retake), the pair resolved.
    approve(s, store, c, fp.spec("frll_009_neutral_front.jpg"))
    pd = approve(s, store, d, fp.recoded(fp.spec("frll_009_neutral_front.jpg"), scale=0.8))
    item = items(s, student_id=c.id)[0]
    identity.decide(s, item, "reject_other", op, note="学号 d 的照片是 c 的，拍错人")
    assert pd.status == PhotoStatus.REJECTED.value and photos.approved_photo(s, d.id) is None
    assert duplicates.held_student_ids(s) == set()
    # A photo in two pairs: voiding it settles both.
    _t, _c, (e, f, g) = setup_term(s, n=3, start=10)
    pe = approve(s, store, e, fp.spec("jolie_white_bg.jpg"))
    approve(s, store, f, fp.recoded(fp.spec("jolie_white_bg.jpg")))
    approve(s, store, g, fp.recoded(fp.spec("jolie_white_bg.jpg"), scale=0.8))
    assert duplicates.held_student_ids(s) == {e.id, f.id, g.id}
    identity.decide(s, items(s, student_id=e.id)[0], "reject_this", op, note="e 的照片被交了三次")
    assert pe.status == PhotoStatus.REJECTED.value
    assert duplicates.held_student_ids(s) == {f.id, g.id}     # f–g remains for a person to decide
    acts = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert acts.count("duplicate.decide") == 4 and "photo.withdraw" in acts


def test_a_decision_settling_many_items_is_audited_whole(s, store):
    """One photo in 20 pairs, withdrawn: 40 items settle at once.  Their ids do not fit
    the audit log's 64-character object_id (PostgreSQL refused the entry, SQLite stored
    it over-long): the decision is split over entries that each fit, and every item's
    history shows it."""
    _t, _c, studs = setup_term(s, n=21)
    a, others = studs[0], studs[1:]
    pa = add_photo(s, store, a)
    photos.approve(s, pa, "t", run_hooks=False)
    made = []
    for o in others:
        po = add_photo(s, store, o)
        photos.approve(s, po, "t", run_hooks=False)
        for x, px, y, py in ((a, pa, o, po), (o, po, a, pa)):
            made.append(ReviewItem(term_id=a.term_id, kind="duplicate_file", status="open", student_id=x.id,
                                   photo_id=px.id, other_student_id=y.id, other_photo_id=py.id, distance=0.0))
    s.add_all(made)
    s.flush()
    admin = user(s, "boss", role=Role.ADMIN)
    changed = identity.decide(s, made[0], "reject_this", admin, note="同一文件交给了 20 个学号")
    s.flush()
    assert len(changed) == 40 and all(i.status == "resolved" for i in made)
    assert pa.status == PhotoStatus.REJECTED.value
    entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "duplicate.decide")
                        .order_by(AuditEntry.id)).all()
    assert len(entries) >= 2 and all(len(e.object_id) <= 64 for e in entries)
    assert [(e.detail["part"], e.detail["parts"]) for e in entries] == [(n, len(entries))
                                                                       for n in range(1, len(entries) + 1)]
    assert sorted(int(x) for e in entries for x in e.object_id.split(",")) == sorted(i.id for i in made)
    for it in made:
        assert [h.action for h in identity.item_history(s, it)] == ["duplicate.decide"]


def test_scan_computes_missing_data_once(s, store, corpus_dir, monkeypatch):
    _t, _c, (a, b) = setup_term(s, n=2)
    for st, name in ((a, "damon_plain_1.jpg"), (b, "damon_plain_2.jpg")):
        p = photos.record_photo(s, store, st, original=fp.spec(name), spec=fp.spec(name), report=report("pass"),
                                source="intake", actor="t")
        photos.approve(s, p, "t", run_hooks=False)
    calls = []
    real = qc.faces.encode
    monkeypatch.setattr(qc.faces, "encode", lambda *a, **k: calls.append(1) or real(*a, **k))
    r1 = duplicates.scan_term(s, a.term)
    assert r1.computed == 2 and len(calls) == 2
    assert [(m.kind, {m.a.xh, m.b.xh}) for m in r1.matches] == [("face", {a.xh, b.xh})]
    r2 = duplicates.scan_term(s, a.term)
    assert r2.computed == 0 and len(calls) == 2 and len(r2.matches) == 1


def test_cli_scan_json_report_and_dry_run(db_backend, tmp_path, monkeypatch, corpus_dir):
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "inst"))
    app = create_app()
    db = get_db(app)
    db.upgrade()
    store = app.extensions["kiosk_store"]
    with db.session() as s:
        _t, _c, (a, b, c, d) = setup_term(s, n=4)
        xs = [x.xh for x in (a, b, c, d)]
        for st, data in ((a, fp.spec("damon_plain_1.jpg")), (b, fp.spec("damon_plain_3.jpg")),
                         (c, fp.spec("frll_009_neutral_front.jpg")), (d, fp.spec("frll_009_neutral_front.jpg"))):
            p = photos.record_photo(s, store, st, original=data, spec=data, report=report("pass"),
                                    source="intake", actor="t")
            photos.approve(s, p, "t", run_hooks=False)   # as if approved before the hook existed
    r = CliRunner().invoke(cli, ["duplicates", "--term", "2027-07", "--json", "--dry-run"])
    assert r.exit_code == 1, r.output
    out = json.loads(r.output)
    pairs = {(p["xh_a"], p["xh_b"]): p for p in out["pairs"]}
    assert set(pairs) == {(xs[0], xs[1]), (xs[2], xs[3])}
    face, same = pairs[(xs[0], xs[1])], pairs[(xs[2], xs[3])]
    assert face["kind"] == "face" and 0 < face["distance"] <= FACE_MAX
    assert same["kind"] == "file" and same["exact"] is True and same["distance"] == 0
    assert out["summary"]["review_items_opened"] == 0
    xlsx = tmp_path / "dups.xlsx"
    r = CliRunner().invoke(cli, ["duplicates", "--term", "2027-07", "--report", str(xlsx)])
    assert r.exit_code == 1 and "新开复核事项 4 条" in r.output, r.output
    ws = load_workbook(xlsx)["疑似重复"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("类型", "批次A", "学号A") and len(rows) == 3
    assert {r[2] for r in rows[1:]} == {xs[0], xs[2]} and all("*" in r[4] for r in rows[1:])  # masked 身份证号
    r = CliRunner().invoke(cli, ["duplicates", "--term", "2027-07", "--json"])
    assert json.loads(r.output)["summary"]["review_items_opened"] == 0     # nothing reopened
    r = CliRunner().invoke(cli, ["duplicates", "--term", "2030-01"])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli, ["duplicates", "--term", "2027-07", "--report", str(tmp_path / "x.csv")])
    assert r.exit_code == 2
    with db.session() as s:
        assert len(s.scalars(select(ReviewItem)).all()) == 4


def test_hook_scan_and_references_through_the_cli(db_backend, tmp_path, monkeypatch, corpus_dir):
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "inst"))
    app = create_app()
    db = get_db(app)
    db.upgrade()
    store = app.extensions["kiosk_store"]
    with db.session() as s:
        s.info["kiosk_store"] = store
        _t, _c, (a, b, c) = setup_term(s, n=3)
        xa = a.xh
        for st, data in ((a, fp.spec("damon_plain_1.jpg")), (b, fp.recoded(fp.spec("damon_plain_1.jpg"), scale=0.7)),
                         (c, fp.spec("frll_009_neutral_front.jpg"))):
            p = photos.record_photo(s, store, st, original=data, spec=data, report=report("pass"),
                                    source="intake", actor="t")
            photos.approve(s, p, "t")
    with db.session() as s:
        hashes = [p.phash for p in s.scalars(select(photos.Photo))]
        assert all(h is not None and -(2**63) <= h < 2**63 for h in hashes)   # signed 64-bit in BIGINT
        assert len(items(s)) == 2 and duplicates.held_student_ids(s) == {
            i.student_id for i in items(s)}
    folder = tmp_path / "refs"
    folder.mkdir()
    (folder / f"{xa}.jpg").write_bytes(fp.corpus("damon_plain_2.jpg"))
    r = CliRunner().invoke(cli, ["references", "import", str(folder), "--term", "2027-07"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["duplicates", "--term", "2027-07", "--json"])
    out = json.loads(r.output)
    assert r.exit_code == 1 and [p["kind"] for p in out["pairs"]] == ["file"]
    assert out["summary"]["review_items_opened"] == 0
    db.engine.dispose()


def test_one_face_under_many_students_opens_a_bounded_number_of_items(s, store, corpus_dir):
    """A delivery that reused one face for many 学号 holds every student involved, but
    opens at most MAX_PAIRS_PER_PHOTO pairs per photo (not n²) and says how many more
    photos matched."""
    from tests.qc.fixtures import Layout, make_spec_photo

    n = 9
    _t, _c, studs = setup_term(s, n=n)
    frll = corpus_dir / "frll_009_neutral_front.jpg"
    with duplicates.deferred(s, "test", source="intake"):
        for i, st in enumerate(studs):
            approve(s, store, st, make_spec_photo(frll, Layout(face_width=215 + 6 * i, crown_y=62 + i)))
    opened = items(s)
    per_photo = {}
    for it in opened:
        per_photo[it.photo_id] = per_photo.get(it.photo_id, 0) + 1
    assert len(per_photo) == n                                   # every photo has an item...
    assert max(per_photo.values()) <= 2 * duplicates.MAX_PAIRS_PER_PHOTO
    assert len(opened) < n * (n - 1)                             # ...but far fewer than all pairs
    assert any(it.detail.get("more_matches") for it in opened)
    assert duplicates.held_student_ids(s) == {st.id for st in studs}
