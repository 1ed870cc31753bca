"""The Celery backend end to end: a real Redis, real PostgreSQL, real ``kiosk worker`` processes.

* an intake archive checked across two worker processes gives the report of the
  in-process backend, file for file;
* a worker killed with SIGKILL in the middle of the job loses nothing: every file ends
  with exactly one outcome and one photo, none twice;
* Redis unreachable at submission → the job is failed with a coded reason and nothing
  recorded; Redis or PostgreSQL restarted in the middle → the job resumes and completes
  with every file recorded once.
"""
from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from kiosk import jobs
from kiosk.cli import main as cli
from kiosk.db import get_db
from kiosk.models import IntakeFile, IntakeJob, Photo
from kiosk.services import intake, orgs

from tests.celery_workers import Workers, celery_config
from tests.pg import PgServer, PgUnavailable, _bin

from . import intakedata as data
from .conftest import make_app
from .factories import setup_term

pytestmark = pytest.mark.postgres



@pytest.fixture(autouse=True)
def _corpus(corpus_dir):
    """The archives are built from the real-photo corpus."""


# ---------------------------------------------------------------------------- helpers
@pytest.fixture
def cluster(tmp_path, pg_url, redis_url):
    """An app (the submitter) on PostgreSQL + Redis and a :class:`Workers` to start workers."""
    def make(**extra):
        cfg = celery_config(tmp_path, pg_url, redis_url, **extra)
        app = make_app(tmp_path, **cfg)
        w = Workers(tmp_path, cfg)
        made.append(w)
        return app, w

    made: list[Workers] = []
    yield make
    for w in made:
        w.stop()


def students(app, n: int):
    s = get_db(app).sessionmaker()
    term, _, st = setup_term(s, n=n)
    s.commit()
    xh = [x.xh for x in st]
    s.close()
    return xh


def submit(app, zip_path: Path):
    """Create the job and send it (returns at once with the Celery backend)."""
    s = get_db(app).sessionmaker()
    from kiosk.services import terms  # noqa: PLC0415

    job = intake.create_job(s, terms.get_term(s, "2027-07"), orgs.ensure_imaging_unit(s, "新华社陕西分社"),
                            source_name=zip_path.name, actor="cli:test")
    s.commit()
    job = jobs.run_intake(app, s, job, zip_path, wait=False)
    return s, job


def files_of(s, job) -> list[tuple]:
    return [(f.position, f.name, f.xh, f.outcome, f.key_kind, f.reasons) for f in intake.job_files(s, job)]


def assert_once_each(s, job, n_files: int) -> None:
    """Every position has exactly one row; every photo of the job belongs to exactly one row."""
    rows = intake.job_files(s, job)
    assert sorted(f.position for f in rows) == list(range(n_files))
    ph = s.scalars(select(Photo).where(Photo.intake_job_id == job.id)).all()
    assert sorted(p.id for p in ph) == sorted(f.photo_id for f in rows if f.photo_id is not None and
                                              f.outcome not in ("skipped",))
    assert len({p.sha256 for p in ph}) == len(ph)                  # no photo recorded twice


def wait_progress(app, s, job_id: int, at_least: int, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while True:
        s.rollback()
        if (s.scalar(select(func.count()).select_from(IntakeFile).where(IntakeFile.job_id == job_id)) or 0) >= at_least:
            return
        assert time.time() < deadline, "the job made no progress"
        time.sleep(0.2)


def mixed_archive(tmp: Path, xh: list[str]) -> tuple[Path, int]:
    shared = data.spec_photo(40)
    entries = [(f"{xh[i]}.jpg", data.spec_photo(i)) for i in range(6)]
    entries += [(f"{xh[6]}.jpg", data.spec_photo(6, "warn")), (f"{xh[7]}.jpg", data.spec_photo(7, "fail")),
                (f"{xh[8]}.jpg", data.spec_photo(8)), (f"照片/张三_{xh[8]}.jpg", data.spec_photo(9)),
                (f"{xh[9]}.jpg", shared), (f"李四_{xh[9]}.jpg", shared),            # same bytes, same student
                ("unknown.jpg", data.spec_photo(41)), ("readme.txt", "说明".encode()),
                (f"{xh[10]}.jpg", data.spec_photo(10)[:20000])]                  # truncated
    return data.make_zip(tmp / "mixed.zip", entries), len(entries)


# ---------------------------------------------------------------------------- (a) same report
def test_two_workers_report_equals_in_process_report_file_for_file(cluster, tmp_path):
    app, w = cluster()
    xh = students(app, 12)
    z, n = mixed_archive(tmp_path, xh)

    ref_app = make_app(tmp_path / "ref", JOBS_WORKERS=0,               # in-process, SQLite, inline
                       DATABASE_URL=f"sqlite:///{tmp_path / 'ref' / 'instance' / 'kiosk.sqlite3'}")
    assert students(ref_app, 12) == xh
    rs = get_db(ref_app).sessionmaker()
    from kiosk.services import terms  # noqa: PLC0415

    ref = intake.create_job(rs, terms.get_term(rs, "2027-07"), orgs.ensure_imaging_unit(rs, "新华社陕西分社"),
                            source_name=z.name, actor="cli:test")
    rs.commit()
    ref = jobs.run_intake(ref_app, rs, ref, z)
    assert ref.status == "done"

    w.start("w1", "w2")
    s, job = submit(app, z)
    assert job.status == "running" and job.phase == "check"        # scanned here; the chunks are queued
    job = jobs.wait_job(app, s, job.id, timeout=240)
    assert job is not None and job.status == "done", job and job.error
    assert files_of(s, job) == files_of(rs, ref)
    assert job.summary["outcomes"] == ref.summary["outcomes"]
    assert job.summary["outcomes"]["approved"] == 7 and job.summary["missing"] == ref.summary["missing"]
    assert job.summary["key_kinds"] == ref.summary["key_kinds"]
    assert_once_each(s, job, n)
    # Both workers checked chunks (the work spread), and the photos they approved got
    # their face encodings like in-process.
    assert w.tasks("w1", "succeeded") >= 1 and w.tasks("w2", "succeeded") >= 1
    approved = s.scalars(select(Photo).where(Photo.intake_job_id == job.id, Photo.status == "approved")).all()
    assert len(approved) == 7 and all(p.face_encoding is not None for p in approved)
    s.close()
    rs.close()


# ---------------------------------------------------------------------------- (b) SIGKILL
def test_worker_killed_mid_job_loses_nothing_and_records_nothing_twice(cluster, tmp_path):
    app, w = cluster(CELERY_VISIBILITY_TIMEOUT=6)
    xh = students(app, 16)
    z = data.make_zip(tmp_path / "k.zip", [(f"{x}.jpg", data.spec_photo(i)) for i, x in enumerate(xh)])
    w.start("w1", "w2")
    s, job = submit(app, z)
    # Kill w1 while it holds a chunk it has not finished.
    deadline = time.time() + 120
    while not (w.tasks("w1", "received") > w.tasks("w1", "succeeded") and w.tasks("w1", "received") >= 1):
        assert time.time() < deadline, w.log("w1")[-2000:]
        time.sleep(0.05)
    w.kill("w1")
    job = jobs.wait_job(app, s, job.id, timeout=300)
    assert job is not None and job.status == "done", job and job.error
    assert job.summary["outcomes"]["approved"] == 16 and job.processed == 16
    assert_once_each(s, job, 16)
    ph = s.scalars(select(Photo).where(Photo.intake_job_id == job.id)).all()
    assert sorted(Counter(p.student_id for p in ph).values()) == [1] * 16
    assert all(p.status == "approved" and p.face_encoding is not None for p in ph)
    # The chunk w1 died with was done by w2 (w1 never finished it).
    assert w.tasks("w2", "succeeded") >= 8 - w.tasks("w1", "succeeded")
    s.close()


# ---------------------------------------------------------------------------- (c) faults
def test_redis_down_at_submission_fails_the_job_with_a_coded_reason(tmp_path, monkeypatch, redis_server, redis_url,
                                                                      pg_url):
    if redis_server is None:
        pytest.skip("KIOSK_TEST_REDIS_URL: an outside Redis cannot be stopped by the test")
    cfg = celery_config(tmp_path, pg_url, redis_url)
    app = make_app(tmp_path, **cfg)
    xh = students(app, 3)
    z = data.make_zip(tmp_path / "r.zip", [(f"{x}.jpg", data.spec_photo(i)) for i, x in enumerate(xh)])
    redis_server.kill()
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    for k, v in cfg.items():
        monkeypatch.setenv(f"KIOSK_{k}", str(v))
    r = CliRunner().invoke(cli, ["intake", str(z), "--term", "2027-07", "--unit", "新华社", "--quiet"])
    assert r.exit_code == 2, r.output
    assert "错误 [broker]" in r.output and "Redis" in r.output
    s = get_db(app).sessionmaker()
    job = s.scalars(select(IntakeJob)).one()
    assert job.status == "failed" and job.error.startswith("[broker]") and "Redis" in job.error
    assert s.scalar(select(func.count()).select_from(IntakeFile)) == 0        # nothing half-recorded
    assert s.scalar(select(func.count()).select_from(Photo)) == 0
    s.close()
    redis_server.start()


def test_redis_restarted_mid_job_the_job_resumes(cluster, tmp_path, redis_server):
    if redis_server is None:
        pytest.skip("KIOSK_TEST_REDIS_URL: an outside Redis cannot be restarted by the test")
    app, w = cluster(CELERY_VISIBILITY_TIMEOUT=8)
    xh = students(app, 16)
    z = data.make_zip(tmp_path / "r.zip", [(f"{x}.jpg", data.spec_photo(i)) for i, x in enumerate(xh)])
    w.start("w1")
    s, job = submit(app, z)
    wait_progress(app, s, job.id, 2)
    redis_server.kill()                         # SIGKILL: no goodbye to anyone
    time.sleep(2)
    s.rollback()
    recorded = s.scalar(select(func.count()).select_from(IntakeFile).where(IntakeFile.job_id == job.id))
    assert recorded < 16                        # the outage hit the job in the middle
    redis_server.start()                        # same port, the append-only file kept the queue
    job = jobs.wait_job(app, s, job.id, timeout=300)
    assert job is not None and job.status == "done", job and job.error
    assert job.summary["outcomes"]["approved"] == 16
    assert_once_each(s, job, 16)
    assert "Connection to broker lost" in w.log("w1") or "Cannot connect to redis" in w.log("w1")
    s.close()


class _PausablePg(PgServer):
    """A private PostgreSQL the test can stop and start again on the same port."""

    def pause(self) -> None:
        subprocess.run(self._as + [_bin("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"],
                       check=True, capture_output=True, timeout=60)

    def resume(self) -> None:
        root = self.datadir.parent
        subprocess.run(self._as + [_bin("pg_ctl"), "-D", str(self.datadir), "-l", str(self.datadir / "server.log"),
                                   "-w", "-t", "60", "-o", f"-p {self.port} -k {root} -c listen_addresses=127.0.0.1 "
                                   "-c fsync=off", "start"], check=True, capture_output=True, timeout=90)


def test_postgresql_restarted_mid_job_the_job_resumes(tmp_path, redis_url):
    pg = _PausablePg()
    try:
        pg.start()
    except PgUnavailable as e:
        from tests.conftest import require_or_skip  # noqa: PLC0415

        require_or_skip(f"PostgreSQL not available: {e}")
    w = None
    try:
        url = pg.create_database("kiosk_restart")
        cfg = celery_config(tmp_path, url, redis_url)
        app = make_app(tmp_path, **cfg)
        w = Workers(tmp_path, cfg)
        xh = students(app, 10)
        z = data.make_zip(tmp_path / "p.zip", [(f"{x}.jpg", data.spec_photo(i)) for i, x in enumerate(xh)])
        w.start("w1")
        s, job = submit(app, z)
        job_id = job.id
        wait_progress(app, s, job_id, 2)
        s.close()
        pg.pause()
        time.sleep(4)                           # the worker's chunks fail meanwhile and back off
        pg.resume()
        s = get_db(app).sessionmaker()
        job = jobs.wait_job(app, s, job_id, timeout=300)
        assert job is not None and job.status == "done", job and job.error
        assert job.summary["outcomes"]["approved"] == 10
        assert_once_each(s, job, 10)
        log = w.log("w1")
        assert "transient error (OperationalError" in log               # said clearly, then retried
        s.close()
    finally:
        if w is not None:
            w.stop()
        pg.stop()


# ---------------------------------------------------------------------------- other jobs
def test_batch_build_references_and_confirm_list_run_on_a_worker_a_missing_broker_fails_clearly(cluster, redis_server):
    from kiosk.models import Batch, BackgroundJob, Role  # noqa: PLC0415
    from kiosk.services import photos  # noqa: PLC0415

    from .factories import add_photo, user  # noqa: PLC0415

    app, w = cluster()
    s = get_db(app).sessionmaker()
    store = app.extensions["kiosk_store"]
    term, _, studs = setup_term(s, n=3)
    for st in studs:
        photos.approve(s, add_photo(s, store, st), "test")
    boss = user(s, "boss", Role.ADMIN)
    s.commit()
    w.start("w1")
    params = {"term_id": term.id, "unit_id": None, "kind": "school", "naming": "xh", "grouping": "",
              "user_id": boss.id, "ip": "127.0.0.1", "term": term.code}
    row = jobs.submit_job(app, s, "batch_build", params, actor=boss)
    deadline = time.time() + 120
    while (j := jobs.job_status(s, row.key))["state"] == "running":
        assert time.time() < deadline, w.log("w1")[-2000:]
        time.sleep(0.2)
        s.rollback()
    assert j["state"] == "done" and j["photos"] == 3, j
    assert s.scalar(select(func.count()).select_from(Batch)) == 1
    assert "Task kiosk.job.run[" in w.log("w1")                    # built by the worker, not here

    # A reference import from the admin page: the page waits, a worker does the work.
    import io  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    from . import facephotos as fp  # noqa: PLC0415
    from .conftest import login  # noqa: PLC0415

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{studs[0].xh}.jpg", fp.corpus("damon_plain_2.jpg"))
        zf.writestr("nobody.jpg", fp.corpus("damon_plain_2.jpg"))
    client = app.test_client()
    login(client, "boss", "password-123")
    before = w.log("w1").count("Task kiosk.job.run[")
    r = client.post("/identity/references/2027-07", data={"file": (io.BytesIO(buf.getvalue()), "refs.zip")},
                    content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="n-imported">1<' in html and "nobody" in html
    assert w.log("w1").count("Task kiosk.job.run[") > before
    assert not store.path_for(__import__("hashlib").sha256(buf.getvalue()).hexdigest()).exists()  # upload removed
    before = w.log("w1").count("Task kiosk.job.run[")
    r = client.get("/admin/coverage/2027-07/confirm-list?format=xlsx")     # confirmation list: built by the worker
    assert r.status_code == 200 and r.data[:2] == b"PK"
    assert w.log("w1").count("Task kiosk.job.run[") > before
    s.rollback()
    if redis_server is None:
        return
    redis_server.kill()
    with pytest.raises(jobs.JobsError) as e:
        jobs.submit_job(app, s, "batch_build", params, actor=boss)
    assert e.value.code == "broker" and "Redis" in e.value.message
    failed = s.scalars(select(BackgroundJob).where(BackgroundJob.status == "failed")).one()
    assert failed.error_code == "broker" and jobs.job_status(s, failed.key)["state"] == "error"
    s.close()
    redis_server.start()


def test_queued_chunks_keep_a_job_from_reading_as_interrupted(tmp_path, pg_url, redis_url, redis_server):
    """Chunks waiting behind another school's archive: no worker touches the job for
    longer than the stale limit, yet it is not 'interrupted' while its tasks wait."""
    cfg = celery_config(tmp_path, pg_url, redis_url)
    app = make_app(tmp_path, **cfg)
    xh = students(app, 2)
    z = data.make_zip(tmp_path / "q.zip", [(f"{x}.jpg", data.spec_photo(i)) for i, x in enumerate(xh)])
    s, job = submit(app, z)                      # no worker runs: the chunk stays queued
    assert jobs.queue_busy(app) and jobs.is_active(app, job.id)
    if redis_server is not None:
        redis_server.flush()                     # the queue lost (a Redis without persistence)
        assert not jobs.queue_busy(app) and not jobs.is_active(app, job.id)
    s.close()


def test_kiosk_intake_cli_with_celery_waits_for_the_workers_and_prints_the_report(cluster, tmp_path):
    app, w = cluster()
    xh = students(app, 3)
    z = data.make_zip(tmp_path / "c.zip", [(f"{xh[0]}.jpg", data.spec_photo(0)),
                                           (f"{xh[1]}.jpg", data.spec_photo(1, "fail")), ("nobody.jpg", b"x")])          # .jpg by name: unmatched
    w.start("w1")
    r = subprocess.run([sys.executable, "-m", "kiosk", "intake", str(z), "--term", "2027-07", "--unit", "新华社",
                        "--json", "--quiet"], env=w.env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]                      # one photo rejected
    import json  # noqa: PLC0415

    out = json.loads(r.stdout)
    assert [(f["name"], f["outcome"]) for f in out["files"]] == [
        (f"{xh[0]}.jpg", "approved"), (f"{xh[1]}.jpg", "rejected"), ("nobody.jpg", "unmatched")]
    assert out["status"] == "done" and w.tasks("w1", "succeeded") >= 1
