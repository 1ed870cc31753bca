"""Imaging-unit pages: upload → background job → progress JSON → report; scoping; decisions."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from sqlalchemy import select

from kiosk import jobs
from kiosk.db import get_db
from kiosk.models import IntakeJob, Photo, ReviewItem, Role, Student
from kiosk.services import orgs, photos

from . import intakedata as data
from .conftest import login, make_app
from .factories import setup_term, user


@pytest.fixture
def env(db_backend, tmp_path, corpus_dir):
    app = make_app(tmp_path, JOBS_WORKERS=0)
    s = get_db(app).sessionmaker()
    term, centre, st = setup_term(s, n=5)
    xhs = orgs.ensure_imaging_unit(s, "新华社陕西分社")
    other = orgs.ensure_imaging_unit(s, "另一家采集单位")
    user(s, "unit-xa", Role.IMAGING_UNIT, imaging_unit_id=xhs.id)
    user(s, "unit-other", Role.IMAGING_UNIT, imaging_unit_id=other.id)
    user(s, "unit-none", Role.IMAGING_UNIT, imaging_unit_id=other.id).imaging_unit_id = None   # unlinked later
    user(s, "op", Role.OPERATOR, org_unit_id=centre.id)
    user(s, "boss", Role.ADMIN)
    s.commit()
    info = {"term_id": term.id, "xh": [x.xh for x in st], "ids": [x.id_number for x in st],
            "sids": [x.id for x in st]}
    s.close()
    return app, info


def _upload(client, app, info, entries, **form):
    z = io.BytesIO()
    data.make_zip(z, entries)
    body = {"term": str(info["term_id"]), "key": "auto", "archive": (io.BytesIO(z.getvalue()), "照片.zip"), **form}
    r = client.post("/unit/intake", data=body, content_type="multipart/form-data",
                    headers={"Accept": "application/json"})
    assert r.status_code == 202, r.get_data(as_text=True)
    job_id = r.get_json()["job"]
    jobs.runner(app).wait(job_id, timeout=120)
    return job_id, r.get_json()


def test_unit_user_uploads_and_reads_the_report(env):
    app, info = env
    c = app.test_client()
    login(c, "unit-xa", "password-123")
    assert c.get("/").headers["Location"].endswith("/unit/")
    page = c.get("/unit/").get_data(as_text=True)
    assert "上传照片压缩包" in page and "新华社陕西分社" in page and 'name="unit_name"' not in page
    entries = [(f"{info['xh'][0]}.jpg", data.spec_photo(1)), (f"王五_{info['ids'][1]}.jpg", data.spec_photo(2)),
               (f"{info['xh'][2]}.jpg", data.spec_photo(2, "fail")), ("nobody.jpg", data.spec_photo(3))]
    job_id, resp = _upload(c, app, info, entries)
    st = c.get(resp["status_url"]).get_json()
    assert st["ok"] and st["status"] == "done" and st["percent"] == 100 and st["done"]
    assert st["outcomes"]["approved"] == 2 and st["outcomes"]["rejected"] == 1 and st["outcomes"]["unmatched"] == 1
    html = c.get(resp["page_url"]).get_data(as_text=True)
    assert html.count('class="file-row"') == 4 and "已通过" in html and "未匹配" in html and "eye_line" in html
    assert info["ids"][1] not in html and info["ids"][1][:4] + "**********" + info["ids"][1][-4:] in html
    assert "仍缺合格照片的学生" in html and info["xh"][4] in html
    x = c.get(f"/unit/jobs/{job_id}/report.xlsx")
    assert x.status_code == 200 and x.data[:2] == b"PK" and "spreadsheetml" in x.content_type
    assert c.get(f"/unit/jobs/{job_id}/report.csv").data.startswith(b"\xef\xbb\xbf")
    assert c.get(f"/unit/jobs/{job_id}/report.pdf").status_code == 404
    assert c.get("/unit/?lang=en").get_data(as_text=True).count("Upload a photo archive") == 1
    assert "Result per file" in c.get(resp["page_url"]).get_data(as_text=True)
    s = get_db(app).sessionmaker()
    job = s.get(IntakeJob, job_id)
    assert job.created_by_name == "unit-xa" and job.options["via"] == "web"
    assert not list((app.instance_path and __import__("pathlib").Path(app.instance_path) / "intake").glob("upload-*"))
    # The photo itself is visible to its unit only.
    pid = s.scalar(select(Photo.id).where(Photo.intake_job_id == job_id, Photo.status == "approved").limit(1))
    assert c.get(f"/unit/photos/{pid}.jpg").data[:3] == b"\xff\xd8\xff"
    s.close()
    other = app.test_client()
    login(other, "unit-other", "password-123")
    assert other.get(f"/unit/jobs/{job_id}").status_code == 404
    assert other.get(f"/unit/jobs/{job_id}/status", headers={"Accept": "application/json"}).status_code == 404
    assert other.get(f"/unit/photos/{pid}.jpg").status_code == 404
    assert f"/unit/jobs/{job_id}" not in other.get("/unit/").get_data(as_text=True)


def test_roles_and_bad_uploads(env):
    app, info = env
    op = app.test_client()
    login(op, "op", "password-123")
    assert op.get("/unit/").status_code == 403
    assert app.test_client().get("/unit/").status_code == 302            # not logged in → login page
    none = app.test_client()
    login(none, "unit-none", "password-123")
    r = none.post("/unit/intake", data={"term": str(info["term_id"]), "archive": (io.BytesIO(b"PK"), "a.zip")},
                  content_type="multipart/form-data", follow_redirects=True)
    assert "账号未关联图像采集单位" in r.get_data(as_text=True)
    c = app.test_client()
    login(c, "unit-xa", "password-123")
    r = c.post("/unit/intake", data={"term": str(info["term_id"])}, content_type="multipart/form-data",
               headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"]["message"] == "请选择要上传的压缩包"
    r = c.post("/unit/intake", data={"term": str(info["term_id"]), "archive": (io.BytesIO(b"x"), "a.zip"),
                                     "manifest": (io.BytesIO("姓名\n张三\n".encode()), "m.csv")},
               content_type="multipart/form-data", follow_redirects=True)
    assert "清单缺少" in r.get_data(as_text=True)
    # A file that is not an archive: the job fails with the reader's reason, shown on the page.
    r = c.post("/unit/intake", data={"term": str(info["term_id"]), "archive": (io.BytesIO(b"hello"), "a.zip")},
               content_type="multipart/form-data", headers={"Accept": "application/json"})
    job_id = r.get_json()["job"]
    jobs.runner(app).wait(job_id, timeout=30)
    st = c.get(f"/unit/jobs/{job_id}/status").get_json()
    assert st["status"] == "failed" and "不是 ZIP 压缩包" in st["error"]
    assert "不是 ZIP 压缩包" in c.get(f"/unit/jobs/{job_id}").get_data(as_text=True)


def test_stale_job_is_reported_interrupted(env):
    app, info = env
    s = get_db(app).sessionmaker()
    unit = orgs.ensure_imaging_unit(s, "新华社陕西分社")
    old = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(hours=1)
    job = IntakeJob(term_id=info["term_id"], imaging_unit_id=unit.id, source_name="x.zip", status="running",
                    phase="check", total=10, processed=3, started_at=old, heartbeat_at=old, summary={}, options={})
    s.add(job)
    s.commit()
    c = app.test_client()
    login(c, "unit-xa", "password-123")
    st = c.get(f"/unit/jobs/{job.id}/status").get_json()
    assert st["status"] == "failed" and "任务中断" in st["error"] and st["done"]
    s.close()


def test_admin_decides_pending_and_review_photos(env):
    app, info = env
    admin = app.test_client()
    login(admin, "boss", "password-123")
    r = admin.post("/unit/intake", data={"term": str(info["term_id"]), "unit_name": "",
                                         "archive": (io.BytesIO(b"PK"), "a.zip")},
                   content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert r.status_code == 400 and "图像采集单位名称" in r.get_json()["error"]["message"]
    x0, x1 = info["xh"][0], info["xh"][1]
    _upload(admin, app, info, [(f"{x0}.jpg", data.spec_photo(1))], unit_name="新华社陕西分社")
    _, resp = _upload(admin, app, info, [(f"{x0}.jpg", data.spec_photo(2)), (f"{x1}.jpg", data.spec_photo(3, "warn"))],
                      unit_name="新华社陕西分社")
    page = admin.get("/unit/decisions").get_data(as_text=True)
    assert page.count('class="card decision"') == 2 and "当前已通过的照片" in page
    s = get_db(app).sessionmaker()
    pending = s.scalar(select(Photo).where(Photo.student_id == info["sids"][0], Photo.status == "pending"))
    review = s.scalar(select(Photo).where(Photo.student_id == info["sids"][1], Photo.status == "review"))
    old = photos.approved_photo(s, info["sids"][0])
    s.close()
    r = admin.post(f"/unit/decisions/{review.id}", data={"action": "reject"}, follow_redirects=True)
    assert "请填写不通过的理由" in r.get_data(as_text=True)
    admin.post(f"/unit/decisions/{review.id}", data={"action": "reject", "reason": "脸太小，重拍"})
    admin.post(f"/unit/decisions/{pending.id}", data={"action": "approve"})
    s = get_db(app).sessionmaker()
    assert s.get(Photo, review.id).status == "rejected" and s.get(Photo, review.id).decision_note == "脸太小，重拍"
    assert s.get(Photo, pending.id).status == "approved" and s.get(Photo, old.id).status == "superseded"
    assert s.get(Photo, pending.id).face_encoding is not None
    items = s.scalars(select(ReviewItem).where(ReviewItem.photo_id.in_([review.id, pending.id]))).all()
    assert {(i.kind, i.status) for i in items} == {("qc_warn", "resolved"), ("replace", "resolved")}
    s.close()
    assert "没有待决定的照片" in admin.get("/unit/decisions").get_data(as_text=True)
    unit_user = app.test_client()
    login(unit_user, "unit-xa", "password-123")
    assert unit_user.get("/unit/decisions").status_code == 403
    assert unit_user.post(f"/unit/decisions/{pending.id}", data={"action": "approve"}).status_code == 403


def test_a_withdrawn_students_photo_is_not_approved_on_the_decisions_page(env):
    app, info = env
    admin = app.test_client()
    login(admin, "boss", "password-123")
    x1, sid = info["xh"][1], info["sids"][1]
    _upload(admin, app, info, [(f"{x1}.jpg", data.spec_photo(3, "warn"))], unit_name="新华社陕西分社")
    s = get_db(app).sessionmaker()
    review = s.scalar(select(Photo).where(Photo.student_id == sid, Photo.status == "review"))
    term_code = s.get(Student, sid).term.code
    s.close()
    # Withdrawn after the photo arrived, while it waits for a decision.
    r = admin.post(f"/admin/terms/{term_code}/students/{sid}/withdraw", data={"reason": "延期毕业"})
    assert r.status_code == 302
    r = admin.post(f"/unit/decisions/{review.id}", data={"action": "approve", "reason": "核对无误"},
                   follow_redirects=True)
    assert "已从本期名单撤销" in r.get_data(as_text=True)
    s = get_db(app).sessionmaker()
    assert s.get(Photo, review.id).status == "review"
    assert photos.approved_photo(s, sid) is None
    s.close()
    admin.get("/unit/decisions?lang=en")
    r = admin.post(f"/unit/decisions/{review.id}", data={"action": "approve", "reason": "ok"}, follow_redirects=True)
    assert "withdrawn from this term" in r.get_data(as_text=True)
    admin.get("/unit/decisions?lang=zh")
    # Restored: the same decision goes through.
    admin.post(f"/admin/terms/{term_code}/students/{sid}/restore", data={})
    admin.post(f"/unit/decisions/{review.id}", data={"action": "approve", "reason": "核对无误"})
    s = get_db(app).sessionmaker()
    assert s.get(Photo, review.id).status == "approved"
    s.close()
