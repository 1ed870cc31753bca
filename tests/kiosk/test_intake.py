"""Bulk intake: hostile and messy archives, outcome rules, duplicates, manifests, hooks."""
from __future__ import annotations

import os
import zipfile

import pytest
from sqlalchemy import func, select

from kiosk.models import AuditEntry, IntakeFile, IntakeJob, Photo, ReviewItem, Student
from kiosk.services import intake, intake_report, orgs, photos
from kiosk.services.intake_match import read_manifest

from . import intakedata as data
from .factories import setup_term
from .rosterdata import csv_bytes


@pytest.fixture(autouse=True)
def _corpus(corpus_dir):
    """Every test here builds photos from the real-photo corpus."""


@pytest.fixture
def store(app):
    return app.extensions["kiosk_store"]


@pytest.fixture
def term_and_students(session):
    term, centre, studs = setup_term(session, n=12)
    session.commit()
    return term, studs


def run(session, store, term, source, *, key="auto", manifest=None, workers=0, unit="新华社陕西分社", **kw):
    u = orgs.ensure_imaging_unit(session, unit)
    job = intake.create_job(session, term, u, source_name=os.path.basename(str(source)), actor="cli:test", key=key)
    session.commit()
    intake.run_job(session, store, job, source, manifest=manifest, workers=workers, commit=session.commit, **kw)
    return job


def by_name(session, job):
    return {f.name: f for f in intake.job_files(session, job)}


def files_under(root):
    return {os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs}


# ---------------------------------------------------------------------------- hostile archive
def test_hostile_and_messy_archive_each_file_reported_good_ones_imported(session, store, term_and_students,
                                                                          tmp_path, app):
    term, st = term_and_students
    good = [data.spec_photo(i) for i in range(3)]
    truncated = data.spec_photo(10)[:20000]
    z = data.make_zip(tmp_path / "hostile.zip", [
        (f"{st[0].xh}.jpg", good[0]),                                   # fine
        (f"照片/张三_{st[1].xh}.jpg", good[1]),                          # GBK-named, fine
        ("../x.jpg", good[2]),                                          # zip slip
        ("/etc/evil.jpg", good[2]),                                     # absolute path
        ("bomb.jpg", b"\x00" * (30 * 1024 * 1024)),                     # zip bomb (30 MB of zeros)
        ("link.jpg", b"/etc/passwd", data.SYMLINK),                     # symlink entry
        ("inner.zip", data.nested_zip()),                               # nested archive
        (f"{st[2].xh}.jpg", good[2]),                                   # same student, names differing
        (f"{st[2].xh}.JPG", data.spec_photo(11)),                       # ... only in case: both to review
        (f"{st[3].xh}.jpg", data.png_480x640()),                        # a PNG named .jpg
        (f"{st[4].xh}.jpg", truncated),                                 # truncated JPEG
        (f"{st[5].xh}.png", data.huge_png()),                           # 20000×20000 PNG
        (f"{st[6].xh}.jpg", data.cmyk_jpeg()),                          # CMYK
        ("readme.txt", "说明".encode()),                                # not an image
        ("__MACOSX/._x.jpg", b"junk"), (".DS_Store", b"junk"),
        ("99999999.jpg", good[0][:100] + b"x" + good[0][101:]),         # nobody's photo
    ], gbk=(f"照片/张三_{st[1].xh}.jpg",), stored=(f"{st[5].xh}.png",))
    before = files_under(tmp_path)
    job = run(session, store, term, z)
    f = by_name(session, job)

    assert job.status == "done" and job.total == len(f) == 17
    assert f[f"{st[0].xh}.jpg"].outcome == "approved"
    assert f[f"照片/张三_{st[1].xh}.jpg"].outcome == "approved"           # GBK name decoded
    for name, code in [("../x.jpg", "unsafe_path"), ("/etc/evil.jpg", "unsafe_path"), ("bomb.jpg", "zip_bomb"),
                       ("link.jpg", "symlink"), ("inner.zip", "nested_archive"), ("readme.txt", "not_image"),
                       ("__MACOSX/._x.jpg", "system_file"), (".DS_Store", "system_file")]:
        assert f[name].outcome == "skipped" and f[name].reasons[0]["code"] == code, name
        assert f[name].reasons[0]["message_zh"]
    for name in (f"{st[2].xh}.jpg", f"{st[2].xh}.JPG"):
        assert f[name].outcome == "review" and f[name].reasons[0]["code"] == "multiple_files", name
    checks = {name: {r.get("check") for r in f[name].reasons} for name in f}
    assert f[f"{st[3].xh}.jpg"].outcome == "rejected" and "jpeg_format" in checks[f"{st[3].xh}.jpg"]
    assert "PNG" in f[f"{st[3].xh}.jpg"].reasons[0]["message_zh"]
    assert f[f"{st[4].xh}.jpg"].outcome == "rejected"
    assert any("截断" in r["message_zh"] for r in f[f"{st[4].xh}.jpg"].reasons)
    assert f[f"{st[5].xh}.png"].outcome == "rejected"
    assert any("像素过多" in r["message_zh"] for r in f[f"{st[5].xh}.png"].reasons)
    assert f[f"{st[6].xh}.jpg"].outcome == "rejected" and "colour_mode" in checks[f"{st[6].xh}.jpg"]
    assert f["99999999.jpg"].outcome == "unmatched" and f["99999999.jpg"].reasons[0]["code"] == "unknown_key"

    # Nothing was written outside the instance (photo store, database): no x.jpg anywhere.
    after = files_under(tmp_path)
    assert {p for p in after - before if not p.startswith("instance" + os.sep)} == set()
    assert not (tmp_path.parent / "x.jpg").exists() and not os.path.exists("/etc/evil.jpg")
    root = store.root
    for p in files_under(root):
        assert len(os.path.basename(p)) == 64, p                      # only content-addressed files
    # Every photo recorded (and every unmatched file) has its bytes in the store.
    for row in f.values():
        if row.outcome in ("approved", "review", "rejected", "unmatched"):
            assert store.exists(row.sha256), row.name
    assert job.summary["outcomes"] == {"approved": 2, "review": 2, "rejected": 4, "pending": 0, "unmatched": 1,
                                       "skipped": 8, "error": 0}
    # Database and report agree on the review items.
    kinds = [k for k, in session.execute(select(ReviewItem.kind).where(ReviewItem.student_id == st[2].id))]
    assert kinds == ["multiple_files", "multiple_files"]


def test_empty_archive_and_non_archive(session, store, term_and_students, tmp_path):
    term, _ = term_and_students
    empty = data.make_zip(tmp_path / "empty.zip", [])
    job = run(session, store, term, empty)
    assert job.status == "done" and job.total == 0 and sum(job.summary["outcomes"].values()) == 0
    assert intake.exit_code(job) == 0
    fake = tmp_path / "photos.zip"
    fake.write_bytes(b"This is a Word document renamed to .zip")
    with pytest.raises(intake.IntakeError) as e:
        run(session, store, term, fake)
    assert e.value.code == "not_archive" and "ZIP" in e.value.message
    job = session.scalar(select(IntakeJob).order_by(IntakeJob.id.desc()).limit(1))
    assert job.status == "failed" and "not_archive" in job.error
    actions = [a for a, in session.execute(select(AuditEntry.action).where(AuditEntry.object_type == "intake_job"))]
    assert actions.count("intake.start") == 2 and "intake.finish" in actions and "intake.failed" in actions


# ---------------------------------------------------------------------------- originals and formats
def test_originals_are_normalised_and_recorded_as_such(session, store, term_and_students, tmp_path):
    term, st = term_and_students
    spec = data.spec_photo(1)
    z = data.make_zip(tmp_path / "orig.zip", [(f"{st[0].xh}.jpg", data.camera_jpeg()),
                                              (f"{st[1].xh}.png", data.rgba_png_original()),
                                              (f"{st[2].xh}.heic", data.heic_original()),
                                              (f"{st[3].xh}.jpg", spec)])
    job = run(session, store, term, z)
    f = by_name(session, job)
    for name in (f"{st[0].xh}.jpg", f"{st[1].xh}.png", f"{st[2].xh}.heic"):
        ph = session.get(Photo, f[name].photo_id)
        assert f[name].outcome == "approved", (name, f[name].reasons)
        assert ph.normalized and ph.transform and ph.sha256 != ph.original_sha256
        assert store.get(ph.sha256)[:3] == b"\xff\xd8\xff" and store.exists(ph.original_sha256)
    spec_ph = session.get(Photo, f[f"{st[3].xh}.jpg"].photo_id)
    assert not spec_ph.normalized and spec_ph.sha256 == spec_ph.original_sha256
    assert store.get(spec_ph.sha256) == spec                            # bytes preserved


def test_heic_refused_clearly_without_a_decoder(session, store, term_and_students, tmp_path, monkeypatch):
    import qc.context

    term, st = term_and_students
    monkeypatch.setattr(qc.context, "_heif_state", {"ok": False})
    z = data.make_zip(tmp_path / "heic.zip", [(f"{st[0].xh}.HEIC", data.heic_original())])
    job = run(session, store, term, z)
    row = intake.job_files(session, job)[0]
    assert row.outcome == "rejected" and "HEIC 格式暂不支持" in row.reasons[0]["message_zh"]


# ---------------------------------------------------------------------------- outcome rules
def test_pending_when_already_approved_and_same_bytes_not_duplicated(session, store, term_and_students, tmp_path):
    term, st = term_and_students
    first = data.make_zip(tmp_path / "1.zip", [(f"{st[0].xh}.jpg", data.spec_photo(1)),
                                               (f"{st[1].xh}.jpg", data.spec_photo(2))])
    job1 = run(session, store, term, first)
    assert job1.summary["outcomes"]["approved"] == 2
    n_photos = session.scalar(select(func.count()).select_from(Photo))
    # Same archive again: recognised by SHA-256, nothing new recorded.
    job2 = run(session, store, term, first)
    rows = intake.job_files(session, job2)
    assert [r.outcome for r in rows] == ["skipped", "skipped"]
    assert all(r.reasons[0]["code"] == "already_imported" and r.photo_id for r in rows)
    assert session.scalar(select(func.count()).select_from(Photo)) == n_photos
    # A different passing photo for an approved student waits for a decision.
    second = data.make_zip(tmp_path / "2.zip", [(f"{st[0].xh}.jpg", data.spec_photo(3))])
    job3 = run(session, store, term, second)
    row = intake.job_files(session, job3)[0]
    assert row.outcome == "pending" and row.reasons[0]["code"] == "replace"
    item = session.scalar(select(ReviewItem).where(ReviewItem.photo_id == row.photo_id))
    assert item.kind == "replace" and item.other_photo_id == photos.approved_photo(session, st[0].id).id
    assert session.get(Photo, row.photo_id).status == "pending"


def test_warn_goes_to_review_and_fail_is_rejected_with_reasons(session, store, term_and_students, tmp_path):
    term, st = term_and_students
    z = data.make_zip(tmp_path / "q.zip", [(f"{st[0].xh}.jpg", data.spec_photo(1, "warn")),
                                           (f"{st[1].xh}.jpg", data.spec_photo(1, "fail"))])
    job = run(session, store, term, z)
    warn, fail = intake.job_files(session, job)
    assert warn.outcome == "review" and {r["check"] for r in warn.reasons} & {"face_width", "eye_distance"}
    assert session.scalar(select(ReviewItem.kind).where(ReviewItem.photo_id == warn.photo_id)) == "qc_warn"
    assert fail.outcome == "rejected" and any(r["check"] == "eye_line" and r["status"] == "fail"
                                              for r in fail.reasons)
    assert session.get(Photo, fail.photo_id).status == "rejected"
    assert intake.exit_code(job) == 1


def test_same_bytes_under_two_names(session, store, term_and_students, tmp_path):
    term, st = term_and_students
    a, b = data.spec_photo(1), data.spec_photo(2)
    z = data.make_zip(tmp_path / "d.zip", [(f"{st[0].xh}.jpg", a), (f"张三_{st[0].id_number}.jpg", a),
                                           (f"{st[1].xh}.jpg", b), (f"{st[2].xh}.jpg", b)])
    job = run(session, store, term, z)
    f = by_name(session, job)
    assert f[f"{st[0].xh}.jpg"].outcome == "approved"
    dup = f[f"张三_{st[0].id_number}.jpg"]
    assert dup.outcome == "skipped" and dup.reasons[0]["code"] == "duplicate_bytes"
    assert st[0].id_number not in dup.reasons[0]["message_zh"]
    # The same photo under two students: neither is approved, a person decides.
    for s_ in (st[1], st[2]):
        row = f[f"{s_.xh}.jpg"]
        assert row.outcome == "review" and row.reasons[0]["code"] == "duplicate_file"
        item = session.scalar(select(ReviewItem).where(ReviewItem.photo_id == row.photo_id))
        assert item.kind == "duplicate_file" and item.other_student_id in (st[1].id, st[2].id)
        assert item.other_student_id != s_.id


def test_one_file_sent_for_many_students_lists_a_bounded_number_of_names(session, store, term_and_students,
                                                                         tmp_path):
    term, st = term_and_students
    same = data.spec_photo(3)
    z = data.make_zip(tmp_path / "d.zip", [(f"{x.xh}.jpg", same) for x in st])            # 12 students
    job = run(session, store, term, z)
    rows = list(by_name(session, job).values())
    assert len(rows) == 12 and {r.outcome for r in rows} == {"review"}
    for row in rows:
        msg = row.reasons[0]["message_zh"]
        assert row.reasons[0]["code"] == "duplicate_file" and msg.count(".jpg") == intake.CONFLICT_NAMES
        assert "等 12 个文件" in msg
        item = session.scalar(select(ReviewItem).where(ReviewItem.photo_id == row.photo_id))
        assert len(item.detail["files"]) == intake.CONFLICT_NAMES and item.detail["files_total"] == 12


def test_worker_pool_run_matches_inline_run(session, store, term_and_students, tmp_path):
    """The same archive through a real 2-process pool gives the same outcomes."""
    term, st = term_and_students
    entries = [(f"{st[i].xh}.jpg", data.spec_photo(20 + i, kind)) for i, kind in
               enumerate(["pass"] * 5 + ["warn", "fail"])]
    z = data.make_zip(tmp_path / "p.zip", entries)
    job = run(session, store, term, z, workers=2, chunk_size=2)
    got = {r.name: r.outcome for r in intake.job_files(session, job)}
    assert got == {n: {"pass": "approved", "warn": "review", "fail": "rejected"}[k]
                   for (n, _), k in zip(entries, ["pass"] * 5 + ["warn", "fail"])}
    assert job.summary["workers"] == 2 and job.summary["timings"]["post_photos"] == 5
    assert all(session.get(Photo, r.photo_id).face_encoding for r in intake.job_files(session, job)
               if r.outcome == "approved")


# ---------------------------------------------------------------------------- post-approval phase
def test_post_phase_stores_encodings_and_runs_hooks(session, store, term_and_students, tmp_path, monkeypatch):
    term, st = term_and_students
    seen = []

    def hook(s, photo, actor):
        assert photo.face_encoding is not None and len(photo.face_encoding) == 512
        seen.append((photo.student_id, actor))

    def broken(s, photo, actor):
        s.add(ReviewItem(term_id=term.id, kind="identity", student_id=photo.student_id))
        s.flush()
        raise RuntimeError("identity service down")

    monkeypatch.setattr(photos, "on_approved", [hook, broken])
    z = data.make_zip(tmp_path / "h.zip", [(f"{st[0].xh}.jpg", data.spec_photo(1)),
                                           (f"{st[1].xh}.jpg", data.spec_photo(2)),
                                           (f"{st[2].xh}.jpg", data.spec_photo(2, "warn"))])
    job = run(session, store, term, z)
    assert sorted(seen) == [(st[0].id, "intake:新华社陕西分社"), (st[1].id, "intake:新华社陕西分社")]
    assert job.post_total == job.post_done == 2
    # The failing hook is reported and its half-done work rolled back; the approvals stand.
    assert len(job.summary["hook_errors"]) == 2 and "identity service down" in job.summary["hook_errors"][0]["error"]
    assert session.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.kind == "identity")) == 0
    assert photos.approved_photo(session, st[0].id) is not None


def test_reference_encoding_is_used_for_identity(session, store, term_and_students, tmp_path):
    from qc.context import PhotoContext

    term, st = term_and_students
    ref = PhotoContext(data.spec_photo(7)).encoding
    st[0].reference_encoding = photos.encoding_bytes(ref)
    session.commit()
    z = data.make_zip(tmp_path / "r.zip", [(f"{st[0].xh}.jpg", data.spec_photo(1))])
    job = run(session, store, term, z)
    row = intake.job_files(session, job)[0]
    ph = session.get(Photo, row.photo_id)
    rep = ph.latest_report
    idm = next(c for c in rep.checks if c["check"] == "identity_match")
    assert idm["status"] == "pass" and row.outcome == "approved"
    assert ph.face_encoding is not None                       # from the main pass (identity needed it)
    assert job.summary["timings"]["post_photos"] == 1


# ---------------------------------------------------------------------------- manifest
def test_manifest_maps_files_and_stores_collect_codes_verbatim(session, store, term_and_students, tmp_path):
    term, st = term_and_students
    code = "=HYPERLINK(\"x\")|采集码\t原样"
    man = csv_bytes(["文件名", "学号", "采集码"],
                    [["IMG_0001.JPG", st[0].xh, code], ["IMG_0002.jpg", "0000000", ""],
                     ["IMG_0003.jpg", st[2].xh, "C3"]], encoding="gbk")
    manifest = read_manifest(man, "清单.csv")
    z = data.make_zip(tmp_path / "m.zip", [("IMG_0001.JPG", data.spec_photo(1)), ("IMG_0002.jpg", data.spec_photo(2)),
                                           (f"{st[1].xh}.jpg", data.spec_photo(3))])
    job = run(session, store, term, z, manifest=manifest)
    f = by_name(session, job)
    assert f["IMG_0001.JPG"].outcome == "approved" and f["IMG_0001.JPG"].key_kind == "manifest"
    assert f["IMG_0002.jpg"].outcome == "unmatched" and "清单第 3 行" in f["IMG_0002.jpg"].reasons[0]["message_zh"]
    assert f[f"{st[1].xh}.jpg"].outcome == "approved" and f[f"{st[1].xh}.jpg"].key_kind == "xh"
    session.refresh(st[0])
    assert st[0].collect_code == code                          # verbatim
    assert job.summary["manifest"]["unused"] == [{"row": 4, "file": "IMG_0003.jpg", "xh": st[2].xh}]
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "student.collect_code")) == 1


def test_unreadable_manifest_is_refused(tmp_path):
    from kiosk.services.intake_match import ManifestError

    with pytest.raises(ManifestError) as e:
        read_manifest(csv_bytes(["姓名", "备注"], [["张三", "x"]]), "m.csv")
    assert "文件名" in e.value.message_zh
    with pytest.raises(ManifestError):
        read_manifest(b"", "m.csv")


# ---------------------------------------------------------------------------- report
def test_report_xlsx_csv_and_json_agree_with_the_database(session, store, term_and_students, tmp_path):
    import io

    import openpyxl

    term, st = term_and_students
    z = data.make_zip(tmp_path / "r.zip", [(f"{st[0].xh}.jpg", data.spec_photo(1)),
                                           (f"{st[1].xh}.jpg", data.spec_photo(1, "fail")),
                                           ("nobody.jpg", data.spec_photo(2))])
    job = run(session, store, term, z)
    out = intake_report.to_json(session, job)
    assert [f["outcome"] for f in out["files"]] == ["approved", "rejected", "unmatched"]
    assert out["files"][1]["reasons"][0]["check"] == "eye_line"
    assert out["summary"]["approved"] == 1 and sorted(out["missing"]) == sorted(s.xh for s in st[1:])
    wb = openpyxl.load_workbook(io.BytesIO(intake_report.xlsx_bytes(session, job)))
    assert wb.sheetnames == ["逐个文件", "汇总", "缺照片学生"]
    rows = list(wb["逐个文件"].iter_rows(values_only=True))
    assert rows[0] == tuple(intake_report.FILE_HEADERS)
    assert [(r[1], r[2], r[4]) for r in rows[1:]] == [(f"{st[0].xh}.jpg", st[0].xh, "已通过"),
                                                      (f"{st[1].xh}.jpg", st[1].xh, "未通过"),
                                                      ("nobody.jpg", None, "未匹配")]
    assert "eye_line" in rows[2][6] and rows[2][7]
    assert [r[0] for r in wb["缺照片学生"].iter_rows(min_row=2, values_only=True)] == out["missing"]
    csv_text = intake_report.csv_bytes(session, job).decode("utf-8-sig")
    assert csv_text.splitlines()[0] == ",".join(intake_report.FILE_HEADERS) and "未匹配" in csv_text


def test_student_approved_elsewhere_during_the_job_becomes_pending(session, store, term_and_students, tmp_path,
                                                                   monkeypatch):
    """An admin approves a photo of a student while the job runs: the job's passing photo of
    that student waits for a decision instead of failing the job or replacing it."""
    from .factories import add_photo

    term, st = term_and_students
    real = photos.record_many
    state = {"done": False}

    def approve_meanwhile(s, *a, **kw):
        if not state["done"]:
            state["done"] = True
            photos.approve(s, add_photo(s, store, st[0]), "admin")
        return real(s, *a, **kw)

    monkeypatch.setattr(photos, "record_many", approve_meanwhile)
    z = data.make_zip(tmp_path / "race.zip", [(f"{st[0].xh}.jpg", data.spec_photo(1)),
                                              (f"{st[1].xh}.jpg", data.spec_photo(2))])
    job = run(session, store, term, z)
    assert [r.outcome for r in intake.job_files(session, job)] == ["pending", "approved"]


def test_a_file_the_worker_cannot_process_is_an_error_others_go_on(session, store, term_and_students, tmp_path,
                                                                  monkeypatch):
    from capture import bulk

    term, st = term_and_students
    bad = data.spec_photo(2)
    real = bulk.check_one

    def flaky(item, profile=None):
        return bulk.ItemError("internal", "处理出错（MemoryError）", "boom") if item.data == bad else real(item, profile)

    monkeypatch.setattr(bulk, "check_one", flaky)
    z = data.make_zip(tmp_path / "e.zip", [(f"{st[0].xh}.jpg", data.spec_photo(1)), (f"{st[1].xh}.jpg", bad)])
    job = run(session, store, term, z)
    ok, err = intake.job_files(session, job)
    assert ok.outcome == "approved" and err.outcome == "error" and err.photo_id is None
    assert err.reasons == [{"code": "internal", "message_zh": "处理出错（MemoryError）"}]
    assert store.get(err.sha256) == bad and intake.exit_code(job) == 1


# ---------------------------------------------------------------------------- withdrawn students
def test_withdrawn_students_files_are_not_imported_and_said_why(session, store, term_and_students, tmp_path,
                                                                 monkeypatch):
    """Among good files, one for a student withdrawn before the job (by 学号; a manifest
    row with a 采集码 too) and one for a student withdrawn while it runs: neither becomes
    their photo, each is reported with the reason, the bytes are kept, the rest imports as
    before, and withdrawn students are not 'missing' in the reconciliation."""
    import io

    import openpyxl

    from capture import bulk
    from kiosk.services import sync

    term, st = term_and_students
    sync.withdraw_student(session, st[1], actor="admin", reason="退学")
    session.commit()
    files = {f"{st[0].xh}.jpg": data.spec_photo(1), f"{st[1].xh}.jpg": data.spec_photo(2),
             "IMG_7.jpg": data.spec_photo(3), f"{st[3].xh}.jpg": data.spec_photo(4),
             f"{st[4].xh}.jpg": data.spec_photo(5)}
    z = data.make_zip(tmp_path / "w.zip", list(files.items()))
    manifest = read_manifest(f"文件名,学号,采集码\nIMG_7.jpg,{st[1].xh},CODE-7\n".encode(), "m.csv")
    real = bulk.check_one

    def withdraw_meanwhile(item, profile=None):    # st[3] leaves the roster while its file is checked
        if item.data == files[f"{st[3].xh}.jpg"]:
            sync.withdraw_student(session, session.get(Student, st[3].id), actor="admin", reason="延期毕业")
        return real(item, profile)

    monkeypatch.setattr(bulk, "check_one", withdraw_meanwhile)
    job = run(session, store, term, z, manifest=manifest)
    f = by_name(session, job)
    assert {n: r.outcome for n, r in f.items()} == {f"{st[0].xh}.jpg": "approved", f"{st[1].xh}.jpg": "unmatched",
                                                    "IMG_7.jpg": "unmatched", f"{st[3].xh}.jpg": "unmatched",
                                                    f"{st[4].xh}.jpg": "approved"}
    for name, who in ((f"{st[1].xh}.jpg", st[1]), ("IMG_7.jpg", st[1]), (f"{st[3].xh}.jpg", st[3])):
        row = f[name]
        assert row.reasons[0]["code"] == "withdrawn", name
        assert row.reasons[0]["message_zh"] == f"学生已从本期名单撤销（学号 {who.xh}），未导入"
        assert (row.xh, row.student_id, row.photo_id) == (who.xh, None, None)
        assert store.get(row.sha256) == files[name]                         # kept, not lost
    for who in (st[1], st[3]):
        assert session.scalar(select(func.count()).select_from(Photo).where(Photo.student_id == who.id)) == 0
    assert session.get(Student, st[1].id).collect_code is None             # the manifest's code not stored
    assert job.summary["outcomes"]["approved"] == 2 and job.summary["outcomes"]["unmatched"] == 3
    assert job.summary["missing"] == 12 - 2 - 2 and intake.exit_code(job) == 1
    out = intake_report.to_json(session, job)
    assert st[1].xh not in out["missing"] and st[3].xh not in out["missing"] and st[2].xh in out["missing"]
    assert [x["code"] for r in out["files"] if r["outcome"] == "unmatched" for x in r["reasons"]] == ["withdrawn"] * 3
    wb = openpyxl.load_workbook(io.BytesIO(intake_report.xlsx_bytes(session, job)))
    info = dict(wb["汇总"].iter_rows(values_only=True))
    assert info["名单人数"] == 10 and info["已撤销学生（不计入名单人数）"] == 2
    assert info["其中：文件对应已撤销学生、未导入"] == 3 and info["仍缺合格照片的学生"] == 8
    rows = {r[1]: r for r in wb["逐个文件"].iter_rows(min_row=2, values_only=True)}
    assert rows[f"{st[1].xh}.jpg"][2] == st[1].xh and rows[f"{st[1].xh}.jpg"][6] == "withdrawn"
