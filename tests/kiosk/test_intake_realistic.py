"""A realistic intake: 300 spec photos from a real portrait plus a few bad files, named by 学号
for a generated roster, through a real 2-process worker pool; the report (JSON and XLSX) and
the database agree file by file, and the reconciliation lists exactly who has no photo."""
from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import select

from kiosk.models import AuditEntry, IntakeFile, Photo, PhotoStatus, ReviewItem, Student
from kiosk.services import intake, intake_report, orgs

from . import intakedata as data
from .factories import setup_term

# ~55 s on either database: run once, on the production path (PostgreSQL).  The same
# code runs on SQLite in every test of test_intake.py; this one adds volume, and two
# copies of it were the largest single cost of running the suite on both databases.
pytestmark = [pytest.mark.slow, pytest.mark.pg_only]

N = 300


def kind_of(i: int) -> str:
    return "fail" if i % 37 == 5 else "warn" if i % 23 == 7 else "pass"


def test_several_hundred_photos_report_and_database_agree(session, app, tmp_path, corpus_dir):
    store = app.extensions["kiosk_store"]
    term, _, st = setup_term(session, n=N + 20)
    session.commit()
    photos = {i: data.spec_photo(i, kind_of(i)) for i in range(N)}
    entries = [(f"{st[i].xh}.jpg", photos[i]) for i in range(N)]
    expected = {f"{st[i].xh}.jpg": {"pass": "approved", "warn": "review", "fail": "rejected"}[kind_of(i)]
                for i in range(N)}
    bad = [(f"{st[N].xh}.jpg", photos[1][:15000], "rejected"),             # truncated
           (f"{st[N + 1].xh}.jpg", photos[0], "review"),                    # photo 0's bytes under another student
           (f"{st[N + 2].xh}.jpg", data.png_480x640(), "rejected"),         # PNG named .jpg
           ("2099999999999.jpg", data.spec_photo(900), "unmatched"),        # nobody on the roster
           ("照片说明.docx", b"PK\x03\x04 not really", "skipped"),           # nested archive / not a photo
           ("Thumbs.db", b"junk", "skipped")]
    entries += [(n, b) for n, b, _ in bad]
    expected.update({n: o for n, _, o in bad})
    expected[f"{st[0].xh}.jpg"] = "review"                                   # the other half of that pair
    z = data.make_zip(tmp_path / "unit.zip", entries)

    unit = orgs.ensure_imaging_unit(session, "新华社陕西分社")
    job = intake.create_job(session, term, unit, source_name="unit.zip", actor="cli:test", key="xh")
    session.commit()
    seen = []
    intake.run_job(session, store, job, z, workers=2, commit=session.commit,
                   on_progress=lambda j: seen.append((j.phase, j.processed)))
    assert job.status == "done" and job.total == len(entries) and job.processed == len(entries)
    assert len({p for _, p in seen}) > 5                                       # progress moved in steps

    files = intake.job_files(session, job)
    assert [f.name for f in files] == [n for n, _ in entries]                 # archive order
    assert {f.name: f.outcome for f in files} == expected
    photos_by_id = {p.id: p for p in session.scalars(select(Photo).where(Photo.intake_job_id == job.id))}
    status_for = {"approved": {PhotoStatus.APPROVED.value}, "review": {PhotoStatus.REVIEW.value},
                  "pending": {PhotoStatus.PENDING.value},
                  "rejected": {PhotoStatus.REJECTED.value, PhotoStatus.UNUSABLE.value}}
    xh_of = {s.id: s.xh for s in st}
    for f in files:
        if f.outcome in status_for:
            ph = photos_by_id[f.photo_id]
            assert ph.status in status_for[f.outcome], f.name
            assert ph.original_name == f.name and xh_of[ph.student_id] == f.xh and f.name.startswith(f.xh)
            assert store.get(ph.original_sha256) == dict(entries)[f.name]          # bytes as received
            assert ph.original_sha256 == f.sha256 and not ph.normalized
            if f.outcome == "rejected" and ph.latest_report is not None:
                failed = {c["check"] for c in ph.latest_report.checks if c["status"] == "fail"}
                assert failed == {r["check"] for r in f.reasons if r.get("status") == "fail"}
        else:
            assert f.photo_id is None
    assert len(photos_by_id) == sum(1 for f in files if f.outcome in status_for)
    # Every photo recorded and approved is in the audit log; approved ones carry an encoding.
    audited = set(session.scalars(select(AuditEntry.object_id).where(AuditEntry.action == "photo.intake")))
    assert {str(i) for i in photos_by_id} <= audited
    assert all(p.face_encoding for p in photos_by_id.values() if p.status == "approved")
    n_items = session.scalar(select(ReviewItem.id).where(ReviewItem.kind == "duplicate_file").limit(1))
    assert n_items is not None

    # The JSON report and the XLSX say the same as the database, file by file.
    out = intake_report.to_json(session, job)
    assert [(x["name"], x["xh"], x["outcome"]) for x in out["files"]] == [(f.name, f.xh, f.outcome) for f in files]
    wb = openpyxl.load_workbook(io.BytesIO(intake_report.xlsx_bytes(session, job)))
    rows = list(wb["逐个文件"].iter_rows(min_row=2, values_only=True))
    assert [(r[1], r[2] or None, r[4]) for r in rows] == [(f.name, f.xh, intake.OUTCOME_ZH[f.outcome]) for f in files]
    counts = {o: sum(1 for f in files if f.outcome == o) for o in intake.OUTCOMES}
    assert out["summary"] == counts == job.summary["outcomes"]
    summary_sheet = {r[0]: r[1] for r in wb["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary_sheet["已通过（approved）"] == counts["approved"]
    # Reconciliation: exactly the students without an approved photo.
    approved = {xh_of[p.student_id] for p in photos_by_id.values() if p.status == "approved"}
    all_xh = [s.xh for s in session.scalars(select(Student).where(Student.term_id == term.id).order_by(Student.xh))]
    assert out["missing"] == [x for x in all_xh if x not in approved]
    assert [r[0] for r in wb["缺照片学生"].iter_rows(min_row=2, values_only=True)] == out["missing"]
    assert job.summary["workers"] == 2
