"""Background jobs other than intake (upload-batch builds): state, progress and result
live in the ``background_jobs`` row, so a second web process shows what the first one
started; a job delivered again after it finished does nothing."""
from __future__ import annotations

import time

from sqlalchemy import func, select

from kiosk import jobs
from kiosk.db import get_db
from kiosk.models import Batch, BackgroundJob, Role
from kiosk.services import photos

from .conftest import login, make_app
from .factories import add_photo, setup_term, user


def world(app):
    s = get_db(app).sessionmaker()
    store = app.extensions["kiosk_store"]
    term, centre, studs = setup_term(s, n=3)
    for st in studs:
        photos.approve(s, add_photo(s, store, st), "test")
    user(s, "boss", Role.ADMIN)
    s.commit()
    s.close()
    return term


def test_build_started_on_one_web_process_is_followed_on_another(tmp_path, db_backend):
    web1 = make_app(tmp_path)
    web2 = make_app(tmp_path)                       # a second process: same database, its own memory
    world(web1)
    c1, c2 = web1.test_client(), web2.test_client()
    assert login(c1, "boss", "password-123").status_code == 302
    assert login(c2, "boss", "password-123").status_code == 302
    r = c1.post("/admin/batches/2027-07/build", data={"kind": "school", "naming": "xh"},
                headers={"Accept": "application/json"})
    assert r.status_code == 202, r.get_data(as_text=True)
    key = r.get_json()["job"]
    deadline = time.time() + 60
    while True:
        j = c2.get(f"/admin/batches/jobs/{key}").get_json()
        if j["state"] != "running" or time.time() > deadline:
            break
        time.sleep(0.1)
    assert j["ok"] and j["state"] == "done" and j["photos"] == 3 and j["term"] == "2027-07"
    assert j["total"] >= 3 and j["done"] == j["total"]             # progress reached the row
    s = get_db(web2).sessionmaker()
    row = s.scalar(select(BackgroundJob).where(BackgroundJob.key == key))
    assert row.kind == "batch_build" and row.status == "done" and row.attempts == 1 and row.result["batch_id"]
    # Delivered again (a Celery redelivery): nothing runs, nothing is built twice.
    assert jobs.run_job_row(web2, key) == "done"
    assert s.scalar(select(func.count()).select_from(Batch)) == 1
    s.close()
    assert c2.get("/admin/batches/jobs/nope").status_code == 404


def test_a_build_that_cannot_run_fails_with_its_code_and_reason(tmp_path, db_backend):
    app = make_app(tmp_path)
    s = get_db(app).sessionmaker()
    setup_term(s, n=2)                              # nobody has an approved photo
    user(s, "boss", Role.ADMIN)
    s.commit()
    c = app.test_client()
    login(c, "boss", "password-123")
    key = c.post("/admin/batches/2027-07/build", data={"kind": "school", "naming": "xh"},
                 headers={"Accept": "application/json"}).get_json()["job"]
    jobs.runner(app, "kiosk_bg_jobs").wait(key, timeout=60)
    j = c.get(f"/admin/batches/jobs/{key}").get_json()
    assert j["state"] == "error" and j["code"] and j["message"]
    s.close()


def test_confirm_list_download_goes_through_the_job_api_and_leaves_nothing_behind(tmp_path, db_backend):
    app = make_app(tmp_path)
    world(app)
    c = app.test_client()
    login(c, "boss", "password-123")
    store_root = tmp_path / "instance" / "photos"
    before = {p for p in store_root.rglob("*") if p.is_file()}
    r = c.get("/admin/coverage/2027-07/confirm-list?format=xlsx")
    assert r.status_code == 200 and r.data[:2] == b"PK"
    assert {p for p in store_root.rglob("*") if p.is_file()} == before      # the handed-over file is gone
    r = c.get("/admin/coverage/2027-07/confirm-list?format=doc", follow_redirects=True)
    assert "未知的格式" in r.get_data(as_text=True)                         # the job's coded failure, shown
    s = get_db(app).sessionmaker()
    rows = s.scalars(select(BackgroundJob).where(BackgroundJob.kind == "confirm_list")
                     .order_by(BackgroundJob.id)).all()
    assert [(j.status, j.error_code) for j in rows] == [("done", None), ("failed", "format")]
    s.close()
