"""Upload batches against the database: contents, manifests, rebuilds, replacements,
exclusions, verification and a build killed midway."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from kiosk.cli import main as cli
from kiosk.db import get_db
from kiosk.models import AuditEntry, Batch, BatchItem, ReviewItem, Station
from kiosk.services import batches, orgs, photos
from upload.manifest import parse_sha256sums, read_manifest_csv

from .conftest import make_app
from .factories import add_photo, setup_term, user

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(app):
    return app.extensions["kiosk_store"]


def approve_all(session, store, studs, *, codes=True, station=None, op=None):
    out = {}
    for st in studs:
        if codes:
            st.collect_code = f"CHSI-{st.xh}-码"
        p = add_photo(session, store, st, station_id=station.id if station else None, actor=op or "test")
        photos.approve(session, p, op or "test")
        out[st.xh] = p
    session.flush()
    return out


def read_zip(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def build(session, store, term, out, **kw):
    b, plan = batches.build_batch(session, store, term, out_dir=out, actor=kw.pop("actor", "test"),
                                  school="测试大学", commit=session.commit, **kw)
    return b, plan


def test_batch_contents_and_manifest_agree_with_database(session, store, tmp_path):
    term, centre, studs = setup_term(session, n=3)
    other_term, other_centre, others = setup_term(session, n=2, centre="渭滨学习中心", branch="宝鸡分部", start=10)
    station = Station(name="工位1", org_unit_id=centre.id)
    session.add(station)
    op = user(session, "op-yanta", org_unit_id=centre.id)
    approved = approve_all(session, store, studs + others, station=station, op=op)
    b, plan = build(session, store, term, tmp_path / "out", grouping="分部,学习中心", unit=orgs.find_unit(session, "西安分部"))

    files = read_zip(b.zip_path)
    assert b.photo_count == 3 and plan.excluded == []
    assert sorted(files) == sorted(["SHA256SUMS", "manifest.csv", "manifest.xlsx", "summary.txt"]
                                   + [f"西安分部/雁塔学习中心/{s.xh}.jpg" for s in studs])
    rows = read_manifest_csv(files["manifest.csv"])
    assert [r["xh"] for r in rows] == [s.xh for s in studs]
    for r, s in zip(rows, studs):
        p = approved[s.xh]
        assert (r["name"], r["id_number"], r["collect_code"], r["centre"], r["branch"]) == \
            (s.name, s.id_number, s.collect_code, "雁塔学习中心", "西安分部")
        assert (r["station"], r["operator"], r["qc_verdict"], r["sha256"]) == ("工位1", "op-yanta", "pass", p.sha256)
        assert r["profile"] == "chsi_xueli_v1 test"
        assert hashlib.sha256(files[r["arcname"]]).hexdigest() == p.sha256 == hashlib.sha256(store.get(p.sha256)).hexdigest()
    items = session.scalars(select(BatchItem).where(BatchItem.batch_id == b.id)).all()
    assert {(i.photo_id, i.sha256) for i in items} == {(approved[s.xh].id, approved[s.xh].sha256) for s in studs}
    # SHA256SUMS verify, with our parser and with coreutils when present.
    sums = parse_sha256sums(files["SHA256SUMS"])
    assert set(sums) == set(files) - {"SHA256SUMS"}
    assert all(hashlib.sha256(files[n]).hexdigest() == d for n, d in sums.items())
    if shutil.which("sha256sum"):
        with zipfile.ZipFile(b.zip_path) as zf:
            zf.extractall(tmp_path / "x")
        r = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=tmp_path / "x", capture_output=True)
        assert r.returncode == 0, r.stdout + r.stderr
    assert hashlib.sha256(Path(b.zip_path).read_bytes()).hexdigest() == b.zip_sha256
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "batch.build"))
    assert entry.detail["zip_sha256"] == b.zip_sha256 and sorted(entry.detail["photo_ids"]) == \
        sorted(approved[s.xh].id for s in studs)


def test_rebuilding_a_recorded_batch_gives_identical_bytes(app, session, store, tmp_path):
    term, _, studs = setup_term(session, n=3)
    approve_all(session, store, studs)
    b, _ = build(session, store, term, tmp_path / "out", naming="sfzh", grouping="层次,专业")
    first_path = Path(b.zip_path)
    original = first_path.read_bytes()
    buf = io.BytesIO()
    batches.rebuild(session, store, b, buf)
    assert buf.getvalue() == original
    # The roster changes and the file is lost: the download is rebuilt from the records.
    studs[0].name = "改名了"
    session.commit()
    first_path.unlink()
    time.sleep(1.1)   # another second on the clock must not matter either
    path = batches.zip_file(session, store, b, app.config["EXPORT_DIR"])
    assert path.read_bytes() == original and path != first_path
    assert f"{studs[0].id_number}.jpg" in "".join(read_zip(path))


def test_replaced_photo_goes_into_the_next_batch_and_not_twice(session, store, tmp_path):
    term, _, (a, bst, c) = setup_term(session, n=3)
    first = approve_all(session, store, [a, bst])
    b1, _ = build(session, store, term, tmp_path / "out")
    assert b1.photo_count == 2
    with pytest.raises(batches.BatchError) as e:
        build(session, store, term, tmp_path / "out")
    assert e.value.code == "empty"
    newer = approve_all(session, store, [a, c])           # a retaken, c new
    assert newer[a.xh].id != first[a.xh].id
    b2, plan = build(session, store, term, tmp_path / "out")
    files = read_zip(b2.zip_path)
    assert sorted(n for n in files if n.endswith(".jpg")) == [f"{a.xh}.jpg", f"{c.xh}.jpg"]
    assert hashlib.sha256(files[f"{a.xh}.jpg"]).hexdigest() == newer[a.xh].sha256 != first[a.xh].sha256
    assert plan.items[0].replaces and not plan.items[1].replaces
    assert f"其中替换此前已交付照片：1\n  {a.xh}" in files["summary.txt"].decode()
    for pid in (first[a.xh].id, newer[a.xh].id, first[bst.xh].id):
        assert session.scalar(select(func.count()).select_from(BatchItem)
                              .where(BatchItem.photo_id == pid, BatchItem.kind == "unit")) == 1
    # The school channel gets the same bytes for the same photo versions.
    s1, _ = build(session, store, term, tmp_path / "out", kind="school")
    school = read_zip(s1.zip_path)
    assert school[f"{a.xh}.jpg"] == files[f"{a.xh}.jpg"]
    assert {i.sha256 for i in s1.items} == {newer[a.xh].sha256, first[bst.xh].sha256, newer[c.xh].sha256}


def test_unit_batches_leave_out_students_without_collect_code(session, store, tmp_path):
    term, _, (a, b, c) = setup_term(session, n=3)
    approve_all(session, store, [a, b])
    approve_all(session, store, [c], codes=False)
    unit, plan = build(session, store, term, tmp_path / "out")
    assert {i.student_id for i in unit.items} == {a.id, b.id}
    assert plan.excluded == [{"xh": c.xh, "code": "no_collect_code", "reason": batches.REASONS["no_collect_code"]}]
    assert unit.excluded[0]["xh"] == c.xh
    assert f"{c.xh}  缺少图像采集码" in read_zip(unit.zip_path)["summary.txt"].decode()
    school, plan = build(session, store, term, tmp_path / "out", kind="school")
    assert {i.student_id for i in school.items} == {a.id, b.id, c.id} and plan.excluded == []


def test_open_duplicate_review_items_hold_both_students(session, store, tmp_path):
    term, _, (a, b, c) = setup_term(session, n=3)
    ph = approve_all(session, store, [a, b, c])
    item = ReviewItem(term_id=term.id, kind="duplicate_face", status="open", student_id=a.id, other_student_id=b.id,
                      photo_id=ph[a.xh].id, other_photo_id=ph[b.xh].id, distance=0.2)
    session.add(item)
    session.add(ReviewItem(term_id=term.id, kind="self_report", status="open", student_id=c.id))
    session.flush()
    first, plan = build(session, store, term, tmp_path / "out")
    assert [i.student_id for i in first.items] == [c.id]
    assert sorted(e["xh"] for e in plan.excluded) == [a.xh, b.xh]
    assert {e["code"] for e in plan.excluded} == {"duplicate_hold"}
    item.status = "resolved"
    second, plan = build(session, store, term, tmp_path / "out")
    assert {i.student_id for i in second.items} == {a.id, b.id} and plan.excluded == []


def test_a_photo_whose_bytes_changed_refuses_the_whole_batch(session, store, tmp_path):
    term, _, studs = setup_term(session, n=2)
    ph = approve_all(session, store, studs)
    store.path_for(ph[studs[1].xh].sha256).write_bytes(b"not the approved photo")
    with pytest.raises(batches.BatchError) as e:
        build(session, store, term, tmp_path / "out")
    assert e.value.code == "hash_mismatch" and studs[1].xh in e.value.message
    assert session.scalar(select(func.count()).select_from(Batch)) == 0
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_bad_options_are_clear_errors(session, store, tmp_path):
    term, _, studs = setup_term(session, n=1)
    approve_all(session, store, studs)
    for kw, code in [({"kind": "cloud"}, "kind"), ({"naming": "name"}, "naming"), ({"grouping": "年级"}, "group")]:
        with pytest.raises(batches.BatchError) as e:
            build(session, store, term, tmp_path / "out", **kw)
        assert e.value.code == code and e.value.message


def test_cli_build_json_list_and_download(db_backend, tmp_path, monkeypatch):
    app = make_app(tmp_path)
    store = app.extensions["kiosk_store"]
    with get_db(app).session() as s:
        term, _, studs = setup_term(s, n=3)
        approve_all(s, store, studs[:2])
        approve_all(s, store, studs[2:], codes=False)
        xh_missing = studs[2].xh
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    run = CliRunner().invoke
    r = run(cli, ["batch", "build", "--term", "2027-07", "--out", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out) == {"batch_id", "zip", "sha256", "photos", "excluded"}
    assert out["photos"] == 2 and out["excluded"] == [{"xh": xh_missing, "reason": batches.REASONS["no_collect_code"]}]
    assert hashlib.sha256(Path(out["zip"]).read_bytes()).hexdigest() == out["sha256"]
    r = run(cli, ["batch", "build", "--term", "2027-07", "--out", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 1 and json.loads(r.output)["error"]["code"] == "empty"
    r = run(cli, ["batch", "build", "--term", "2031-01", "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and "找不到毕业批次" in r.output
    r = run(cli, ["batch", "list", "--json"])
    assert [x["batch_id"] for x in json.loads(r.output)] == [out["batch_id"]]
    Path(out["zip"]).unlink()
    r = run(cli, ["batch", "download", str(out["batch_id"]), "--out", str(tmp_path / "again"), "--json"])
    assert r.exit_code == 0, r.output
    again = json.loads(r.output)["zip"]
    assert hashlib.sha256(Path(again).read_bytes()).hexdigest() == out["sha256"]
    r = run(cli, ["batch", "download", "999", "--out", str(tmp_path / "again")])
    assert r.exit_code == 2 and "找不到批次" in r.output


def test_killing_the_build_midway_records_nothing(db_backend, tmp_path):
    app = make_app(tmp_path)
    store = app.extensions["kiosk_store"]
    db = get_db(app)
    with db.session() as s:
        _, _, studs = setup_term(s, n=4)
        approve_all(s, store, studs)
    out = tmp_path / "out"
    env = dict(os.environ, KIOSK_INSTANCE=str(tmp_path / "instance"), **{batches.PAUSE_ENV: "0.4"})
    cmd = [sys.executable, "-m", "kiosk", "batch", "build", "--term", "2027-07", "--out", str(out)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            partial = [p for p in out.glob(".partial-*") if p.stat().st_size > 0] if out.exists() else []
            if partial:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("the build never started writing")
        time.sleep(0.6)                     # a few entries in, far from done (8 entries × 0.4 s)
        assert proc.poll() is None
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert list(out.glob("*.zip")) == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 0
        assert s.scalar(select(func.count()).select_from(BatchItem)) == 0
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "batch.build")) == 0
    # The next build starts from scratch and delivers everything.
    r = subprocess.run(cmd + ["--json"], env={k: v for k, v in env.items() if k != batches.PAUSE_ENV}, cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["photos"] == 4


def test_batch_rebuild_and_coverage(db_backend, tmp_path):
    from kiosk.services import coverage

    app = make_app(tmp_path)
    store = app.extensions["kiosk_store"]
    db = get_db(app)
    with db.session() as s:
        term, _, studs = setup_term(s, n=3)
        ph = approve_all(s, store, studs[:2])
        s.add(ReviewItem(term_id=term.id, kind="duplicate_file", status="open", student_id=studs[1].id))
        s.flush()
        b, plan = build(s, store, term, tmp_path / "out")
        assert [i.student_id for i in b.items] == [studs[0].id] and plan.excluded[0]["xh"] == studs[1].xh
        buf = io.BytesIO()
        batches.rebuild(s, store, b, buf)
        assert hashlib.sha256(buf.getvalue()).hexdigest() == b.zip_sha256
        c = coverage.coverage(s, term).total
        assert (c.expected, c.captured, c.approved, c.in_batch) == (3, 2, 2, 1)
        data, n = coverage.missing_xlsx(s, term)
        assert n == 1
        assert ph[studs[0].xh].sha256 == b.items[0].sha256
    db.engine.dispose()


def test_missing_list_order_is_the_same_on_every_database(session):
    """Students without a class or a centre come after the others, on SQLite (which
    sorts NULL first) as on PostgreSQL (NULL last)."""
    from kiosk.services import coverage

    term, _c, studs = setup_term(session, n=4)
    studs[0].class_name = None
    studs[2].centre_id = None
    session.flush()
    got = [s.xh for s in coverage.missing_students(session, term)]
    assert got == [studs[1].xh, studs[3].xh, studs[0].xh, studs[2].xh]


def test_stale_partials_are_swept_fresh_ones_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old, fresh = out / ".partial-old.tmp", out / ".partial-new.tmp"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (time.time() - 13 * 3600,) * 2)
    assert batches.sweep_partials(out) == [old]
    assert not old.exists() and fresh.exists()


def test_cli_unwritable_output_is_a_clear_error(db_backend, tmp_path, monkeypatch):
    app = make_app(tmp_path)
    with get_db(app).session() as s:
        _, _, studs = setup_term(s, n=1)
        approve_all(s, app.extensions["kiosk_store"], studs)
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = CliRunner().invoke(cli, ["batch", "build", "--term", "2027-07", "--out", str(blocker / "sub"), "--json"])
    assert r.exit_code == 2 and json.loads(r.output)["error"]["code"] == "io"
    with get_db(app).session() as s:
        assert s.scalar(select(func.count()).select_from(Batch)) == 0


# ----------------------------------------------------------------- withdrawn students
def test_withdrawn_students_are_held_back_from_batches_and_not_counted(session, store, tmp_path):
    """Five students, three with approved photos; one of those and one without any photo
    are withdrawn.  Batches of both channels carry the two others and list the withdrawn
    one as held back; coverage expects three (two withdrawn, counted apart); the missing
    list has only the student on the roster without a photo."""
    from kiosk.services import coverage, sync

    term, _c, (a, b, c, d, e) = setup_term(session, n=5)
    ph = approve_all(session, store, [a, b, c])
    assert sync.withdraw_student(session, b, actor="test", reason="退学")
    assert sync.withdraw_student(session, e, actor="test", reason="转期")
    session.commit()

    plan = batches.plan_batch(session, term)
    assert [it.student.xh for it in plan.items] == [a.xh, c.xh]
    assert plan.excluded == [{"xh": b.xh, "code": "withdrawn", "reason": "学生已从本期名单撤销，不交付"}]
    unit, plan = build(session, store, term, tmp_path / "out")
    files = read_zip(unit.zip_path)
    assert sorted(n for n in files if n.endswith(".jpg")) == [f"{a.xh}.jpg", f"{c.xh}.jpg"]
    assert [r["xh"] for r in read_manifest_csv(files["manifest.csv"])] == [a.xh, c.xh]
    assert f"{b.xh}  学生已从本期名单撤销" in files["summary.txt"].decode()
    assert {i.student_id for i in unit.items} == {a.id, c.id}
    assert unit.excluded == [{"xh": b.xh, "code": "withdrawn", "reason": batches.REASONS["withdrawn"]}]
    school, plan = build(session, store, term, tmp_path / "out", kind="school")
    assert {i.student_id for i in school.items} == {a.id, c.id} and [x["code"] for x in plan.excluded] == ["withdrawn"]
    assert session.scalar(select(func.count()).select_from(BatchItem).where(BatchItem.photo_id == ph[b.xh].id)) == 0

    cov = coverage.coverage(session, term)
    t = cov.total
    assert (t.expected, t.captured, t.approved, t.in_batch, t.withdrawn) == (3, 2, 2, 2, 2)
    assert t.to_dict()["withdrawn"] == 2 and t.pct("approved") == pytest.approx(200 / 3)
    assert [(name, x.expected, x.withdrawn) for name, x in cov.by_centre] == [("西安分部 / 雁塔学习中心", 3, 2)]
    assert [s.xh for s in coverage.missing_students(session, term)] == [d.xh]
    _data, n = coverage.missing_xlsx(session, term)
    assert n == 1


def test_a_student_withdrawn_while_the_batch_is_written_is_caught(db_backend, tmp_path):
    """The plan is made, the ZIP is being written, and meanwhile (another connection)
    an admin withdraws one of the planned students: the batch is refused, nothing is
    recorded and no ZIP is left; the next build holds the student back."""
    from kiosk.models import Student, Term
    from kiosk.services import sync

    app = make_app(tmp_path)
    store = app.extensions["kiosk_store"]
    db = get_db(app)
    with db.session() as s:
        term, _c, studs = setup_term(s, n=3)
        approve_all(s, store, studs)
        tid, xhs, victim = term.id, [x.xh for x in studs], studs[1].id
    out = tmp_path / "out"
    s = db.sessionmaker()
    try:
        done = []

        def withdraw_meanwhile(_done, _total, _name):
            if not done:
                done.append(1)
                with db.session() as other:
                    sync.withdraw_student(other, other.get(Student, victim), actor="admin", reason="延期毕业")

        with pytest.raises(batches.BatchError) as e:
            batches.build_batch(s, store, s.get(Term, tid), out_dir=out, actor="test", commit=s.commit,
                                on_progress=withdraw_meanwhile)
        s.rollback()
        assert done and e.value.code == "withdrawn" and xhs[1] in e.value.message and "撤销" in e.value.message
        assert list(out.glob("*.zip")) == []
        assert s.scalar(select(func.count()).select_from(Batch)) == 0
        assert s.scalar(select(func.count()).select_from(BatchItem)) == 0
        b, plan = batches.build_batch(s, store, s.get(Term, tid), out_dir=out, actor="test", commit=s.commit)
        assert [it.student.xh for it in plan.items] == [xhs[0], xhs[2]]
        assert [(x["xh"], x["code"]) for x in b.excluded] == [(xhs[1], "withdrawn")]
        assert [p.name for p in out.glob("*.zip")] == [b.zip_name]
    finally:
        s.rollback()
        s.close()
    db.engine.dispose()


def test_a_withdrawal_waits_for_the_batch_being_recorded(db_backend, tmp_path):
    """Once a build has re-checked its students it holds them (PostgreSQL: a share lock on
    each student row; SQLite: the write lock) until its commit: a withdrawal arriving in
    that moment waits and lands after the batch, never between the check and the commit."""
    import threading

    from kiosk.models import Student, Term
    from kiosk.services import coverage, sync

    app = make_app(tmp_path)
    store = app.extensions["kiosk_store"]
    db = get_db(app)
    with db.session() as s:
        term, _c, studs = setup_term(s, n=3)
        approve_all(s, store, studs)
        tid, victim = term.id, studs[1].id
    s = db.sessionmaker()
    finished = threading.Event()
    errors: list[BaseException] = []

    def withdraw():
        try:
            with db.session() as other:
                sync.withdraw_student(other, other.get(Student, victim), actor="admin", reason="退学")
            finished.set()
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    thread = threading.Thread(target=withdraw)

    def commit_after_a_withdrawal_tried():
        thread.start()
        blocked = not finished.wait(1.0)          # the batch's rows are flushed, its locks held
        s.commit()
        assert blocked, "the withdrawal went through while the batch was being recorded"

    try:
        b, plan = batches.build_batch(s, store, s.get(Term, tid), out_dir=tmp_path / "out", actor="test",
                                      commit=commit_after_a_withdrawal_tried)
        thread.join(30)
        assert finished.is_set() and not errors, errors
        assert {it.student.id for it in plan.items} == {st.id for st in studs}
    finally:
        s.rollback()
        s.close()
    with db.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action.in_(["batch.build", "student.withdraw"]))
                            .order_by(AuditEntry.id)).all()
        assert [e.action for e in entries] == ["batch.build", "student.withdraw"]
        assert s.get(Student, victim).withdrawn_at is not None
        c = coverage.coverage(s, s.get(Term, tid)).total
        assert (c.expected, c.in_batch, c.withdrawn) == (2, 2, 1)
        assert batches.plan_batch(s, s.get(Term, tid)).excluded == []    # delivered before it was withdrawn
    db.engine.dispose()


def test_cli_build_shows_the_withdrawn_reason(db_backend, tmp_path, monkeypatch):
    from kiosk.services import sync

    app = make_app(tmp_path)
    with get_db(app).session() as s:
        _, _, studs = setup_term(s, n=2)
        approve_all(s, app.extensions["kiosk_store"], studs)
        sync.withdraw_student(s, studs[0], actor="test", reason="退学")
        gone, kept = studs[0].xh, studs[1].xh
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    r = CliRunner().invoke(cli, ["batch", "build", "--term", "2027-07", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "照片 1 张" in r.output and f"    {gone}  学生已从本期名单撤销，不交付" in r.output and kept not in r.output
    # Nothing left to deliver: the refusal still says who was held back and why.
    r = CliRunner().invoke(cli, ["batch", "build", "--term", "2027-07", "--out", str(tmp_path / "out")])
    assert r.exit_code == 1 and "错误 [empty]" in r.output and f"未纳入 {gone}：学生已从本期名单撤销" in r.output
