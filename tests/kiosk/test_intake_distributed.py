"""The Celery backend's intake steps, run in this process (no broker): what each task
does, that a chunk delivered twice records nothing twice, and that a stale copy in the
shared store becomes an error naming its hash.  The real thing with Redis and worker
processes is in test_celery_jobs.py."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from capture import bulk
from kiosk.models import IntakeFile, Photo
from kiosk.services import intake, orgs

from . import intakedata as data
from .factories import setup_term


@pytest.fixture(autouse=True)
def _corpus(corpus_dir):
    """The archive is built from the real-photo corpus."""


def run_chunk(session, store, job_id, chunk):
    """One check task: load (read-only), check, record in one transaction, encode."""
    loaded = intake.load_chunk(session, store, job_id, chunk)
    session.commit()
    todo, items, bad = loaded
    boxes = intake.record_checked(session, store, job_id, todo, items, bulk.check_chunk(items), bad)
    session.commit()
    if boxes:
        intake.encode_approved(session, store, boxes)
        session.commit()
    return todo


def test_chunks_record_each_file_once_and_a_torn_copy_is_an_error_with_its_hash(app, session, tmp_path):
    store = app.extensions["kiosk_store"]
    term, _, st = setup_term(session, n=3)
    session.commit()
    z = data.make_zip(tmp_path / "d.zip", [(f"{s.xh}.jpg", data.spec_photo(i)) for i, s in enumerate(st)]
                      + [("readme.txt", "说明".encode())])
    job = intake.create_job(session, term, orgs.ensure_imaging_unit(session, "新华社"), source_name=z.name,
                            actor="cli:test")
    session.commit()
    chunks = intake.start_distributed(session, store, job, z, commit=session.commit, chunk_size=2)
    assert (job.status, job.phase, job.total, job.processed) == ("running", "check", 4, 1)   # readme: skipped
    assert [[d["position"] for d in c] for c in chunks] == [[0, 1], [2]]
    for d in chunks[0] + chunks[1]:
        assert store.get_verified(d["sha256"])                 # every file to check is in the store

    torn = chunks[1][0]["sha256"]
    store.path_for(torn).write_bytes(store.path_for(torn).read_bytes()[:5000])
    assert len(run_chunk(session, store, job.id, chunks[0])) == 2
    assert not intake.all_recorded(session, job.id)
    assert intake.finish_distributed(session, store, job.id) is None         # not everything recorded yet
    session.rollback()
    assert run_chunk(session, store, job.id, chunks[0]) == []                # delivered again: nothing to do
    run_chunk(session, store, job.id, chunks[1])
    assert intake.all_recorded(session, job.id)

    files = {f.position: f for f in intake.job_files(session, job)}
    assert [files[p].outcome for p in range(4)] == ["approved", "approved", "error", "skipped"]
    assert files[2].reasons[0]["code"] == "store_mismatch" and torn in files[2].reasons[0]["message_zh"]
    assert session.scalar(select(func.count()).select_from(Photo)) == 2
    session.refresh(job)
    assert job.processed == 4

    # A second recording that slipped past the check (two deliveries at the same moment)
    # fails inside its transaction: the unique (job_id, position) index.
    session.add(IntakeFile(job_id=job.id, name="again.jpg", outcome="approved", position=0, reasons=[]))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()

    done = intake.finish_distributed(session, store, job.id)
    session.commit()
    assert done is not None and done.status == "done"
    assert done.summary["outcomes"] == {"approved": 2, "review": 0, "rejected": 0, "pending": 0, "unmatched": 0,
                                        "skipped": 1, "error": 1}
    assert done.summary["missing"] == 1 and done.post_total == 2
    assert all(p.face_encoding is not None for p in session.scalars(select(Photo)))
    assert intake.finish_distributed(session, store, job.id) is None          # the finish delivered again


def test_withdrawn_students_files_are_not_recorded_by_the_tasks_either(app, session, tmp_path):
    """Celery backend: a student withdrawn before the scan is unmatched at once; one
    withdrawn after the scan, before the chunk's task records it, is caught by the task."""
    from kiosk.services import sync

    store = app.extensions["kiosk_store"]
    term, _, st = setup_term(session, n=3)
    sync.withdraw_student(session, st[0], actor="admin")
    session.commit()
    z = data.make_zip(tmp_path / "w.zip", [(f"{s.xh}.jpg", data.spec_photo(i)) for i, s in enumerate(st)])
    job = intake.create_job(session, term, orgs.ensure_imaging_unit(session, "新华社"), source_name=z.name,
                            actor="cli:test")
    session.commit()
    chunks = intake.start_distributed(session, store, job, z, commit=session.commit, chunk_size=4)
    assert [d["position"] for d in chunks[0]] == [1, 2]
    sync.withdraw_student(session, st[1], actor="admin")
    session.commit()
    run_chunk(session, store, job.id, chunks[0])
    done = intake.finish_distributed(session, store, job.id)
    session.commit()
    files = {f.position: f for f in intake.job_files(session, job)}
    assert [files[p].outcome for p in range(3)] == ["unmatched", "unmatched", "approved"]
    assert [files[p].reasons[0]["code"] for p in (0, 1)] == ["withdrawn", "withdrawn"]
    assert [(files[p].xh, files[p].student_id) for p in (0, 1)] == [(st[0].xh, None), (st[1].xh, None)]
    assert session.scalar(select(func.count()).select_from(Photo)) == 1
    assert done.summary["outcomes"]["unmatched"] == 2 and done.summary["missing"] == 0
