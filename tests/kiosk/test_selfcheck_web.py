"""Self-check, review queue, coverage and batch pages through the Flask test client."""
from __future__ import annotations

import hashlib
import io
import re
import time

import openpyxl
import pytest
from sqlalchemy import func, select

from kiosk.db import get_db
from kiosk.models import AuditEntry, Batch, Confirmation, RateEvent, ReviewItem, Role, Student
from kiosk.services import photos, sync, terms
from kiosk.web.selfcheck import GENERIC

from .conftest import login, make_app
from .factories import add_photo, setup_term, user


@pytest.fixture
def world(db_backend, tmp_path):
    app = make_app(tmp_path, SELFCHECK_MAX_ATTEMPTS=4, PUBLIC_BASE_URL="https://photo.example.edu.cn")
    store = app.extensions["kiosk_store"]
    with get_db(app).session() as s:
        term, yanta, studs = setup_term(s, n=4)
        _, weibin, others = setup_term(s, n=2, centre="渭滨学习中心", branch="宝鸡分部", start=10)
        for st in studs[:3] + others[:1]:
            st.collect_code = "C-" + st.xh
            photos.approve(s, add_photo(s, store, st), "test")
        add_photo(s, store, studs[3], "warn")
        user(s, "boss", role=Role.ADMIN)
        user(s, "op-yanta", org_unit_id=yanta.id)
        user(s, "op-weibin", org_unit_id=weibin.id)
        ids = {"studs": [(x.id, x.xh, x.id_number, x.name) for x in studs],
               "others": [(x.id, x.xh, x.id_number, x.name) for x in others], "yanta": yanta.id, "weibin": weibin.id}
    return app, ids


def _check(client, xh, idn):
    return client.post("/check/", data={"xh": xh, "idtail": idn[-6:]})


def test_student_sees_only_their_photo_and_confirms(world):
    app, ids = world
    c = app.test_client()
    sid, xh, idn, name = ids["studs"][0]
    r = _check(c, xh, idn.lower())
    assert r.status_code == 302 and r.headers["Location"].endswith("/check/me")
    page = c.get("/check/me").get_data(as_text=True)
    assert name in page and "已通过" in page and idn not in page
    img = c.get("/check/me/photo.jpg")
    assert img.status_code == 200 and img.mimetype == "image/jpeg" and "no-store" in img.headers["Cache-Control"]
    with get_db(app).session() as s:
        approved = photos.approved_photo(s, sid)
        assert hashlib.sha256(img.data).hexdigest() == approved.sha256
    r = c.post("/check/me/answer", data={"result": "correct"}, follow_redirects=True)
    assert "已确认照片正确" in r.get_data(as_text=True)
    # Another browser never gets a photo without verifying.
    other = app.test_client()
    assert other.get("/check/me/photo.jpg").status_code == 404
    assert other.get("/check/me").status_code == 302
    with get_db(app).session() as s:
        conf = s.scalar(select(Confirmation))
        assert (conf.student_id, conf.photo_id, conf.result) == (sid, approved.id, "correct")
        e = s.scalar(select(AuditEntry).where(AuditEntry.action == "selfcheck.correct"))
        assert e.actor == "student" and e.photo_sha256 == approved.sha256
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 0


def test_a_withdrawn_student_is_told_there_is_nothing_to_confirm(world):
    """Withdrawn (e.g. graduation postponed): the photo still shows, no answer is taken."""
    app, ids = world
    sid, xh, idn, _name = ids["studs"][1]
    with get_db(app).session() as s:
        sync.withdraw_student(s, s.get(Student, sid), actor="test", reason="延期毕业")
        s.commit()
    c = app.test_client()
    assert _check(c, xh, idn).status_code == 302
    page = c.get("/check/me").get_data(as_text=True)
    assert 'id="sc-withdrawn"' in page and "无需核对" in page
    assert 'id="btn-correct"' not in page and 'id="btn-wrong"' not in page
    r = c.post("/check/me/answer", data={"result": "correct"}, follow_redirects=True)
    assert "无需核对" in r.get_data(as_text=True)
    r = c.post("/check/me/answer", data={"result": "wrong", "category": "not_me"}, follow_redirects=True)
    with get_db(app).session() as s:
        assert s.scalar(select(func.count()).select_from(Confirmation)) == 0
        assert s.scalar(select(func.count()).select_from(ReviewItem)) == 0
    assert "needs no check" in c.get("/check/me?lang=en").get_data(as_text=True)


def test_wrong_report_reaches_the_branch_queue_only(world):
    app, ids = world
    sid, xh, idn, name = ids["studs"][1]
    c = app.test_client()
    _check(c, xh, idn)
    r = c.post("/check/me/answer", data={"result": "wrong", "category": "other", "comment": ""}, follow_redirects=True)
    assert "请简要说明问题" in r.get_data(as_text=True)
    r = c.post("/check/me/answer", data={"result": "wrong", "category": "not_me", "comment": "照片上不是我"},
               follow_redirects=True)
    assert "已提交有误报告" in r.get_data(as_text=True)
    c.post("/check/me/answer", data={"result": "wrong", "category": "quality", "comment": "太暗"})
    with get_db(app).session() as s:
        items = s.scalars(select(ReviewItem)).all()
        assert len(items) == 1 and items[0].kind == "self_report" and items[0].category == "quality"
        assert items[0].comment == "太暗" and items[0].student_id == sid
        assert s.scalar(select(func.count()).select_from(Confirmation)) == 2
    yanta, weibin, boss = (app.test_client() for _ in range(3))
    login(yanta, "op-yanta", "password-123")
    login(weibin, "op-weibin", "password-123")
    login(boss, "boss", "password-123")
    assert "太暗" in yanta.get("/review/").get_data(as_text=True)
    assert "太暗" in boss.get("/review/").get_data(as_text=True)
    assert "太暗" not in weibin.get("/review/").get_data(as_text=True)
    item_id = items[0].id
    assert weibin.post(f"/review/{item_id}/resolve", data={"resolution": "x"}).status_code == 404
    yanta.post(f"/review/{item_id}/resolve", data={"resolution": "已约重拍"})
    with get_db(app).session() as s:
        it = s.get(ReviewItem, item_id)
        assert it.status == "resolved" and it.resolution == "已约重拍"
    assert app.test_client().get("/review/").status_code == 302        # login required


def test_generic_error_then_rate_limit(world):
    app, ids = world
    c = app.test_client()
    sid, xh, idn, _ = ids["studs"][0]
    no_photo = ids["studs"][3]
    bodies = []
    for xh_, tail in [(xh, "000000"), ("999999999", idn[-6:]), (no_photo[1], no_photo[2][-6:]), ("", "")]:
        r = c.post("/check/", data={"xh": xh_, "idtail": tail})
        assert r.status_code == 400
        body = r.get_data(as_text=True)
        assert GENERIC in body
        # The CSRF token carries a timestamp (seconds): requests straddling a second
        # differ there, which says nothing about the student.
        bodies.append(re.sub(r'(name="csrf[-_]token" (?:value|content)=)"[^"]*"', r"\1", body.replace(xh_, "")))
    assert len({b for b in bodies[:3]}) == 1        # the same page whatever was wrong
    r = _check(c, xh, idn)                           # right this time, but the limit is reached
    assert r.status_code == 429 and "尝试次数过多" in r.get_data(as_text=True)
    with get_db(app).session() as s:
        keys = {e.key for e in s.scalars(select(RateEvent))}
        assert keys and not any("127.0.0.1" in k or xh in k for k in keys)  # hashed, never stored raw
    other_client = app.test_client()
    r = other_client.post("/check/", data={"xh": xh, "idtail": idn[-6:]}, environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert r.status_code == 302                       # another address is not blocked


def test_guessing_one_student_from_many_addresses_is_throttled(world):
    app, ids = world
    _, xh, idn, _ = ids["studs"][0]
    limit = app.config["SELFCHECK_MAX_ATTEMPTS"]
    for i in range(2 * limit):                        # each guess from a fresh address
        c = app.test_client()
        r = c.post("/check/", data={"xh": xh, "idtail": f"{i:06d}"}, environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
        assert r.status_code == 400
    c = app.test_client()
    r = c.post("/check/", data={"xh": xh, "idtail": idn[-6:]}, environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert r.status_code == 429                       # that 学号 is locked for the window
    r = c.post("/check/", data={"xh": ids["studs"][1][1], "idtail": ids["studs"][1][2][-6:]},
               environ_base={"REMOTE_ADDR": "10.1.1.2"})
    assert r.status_code == 302                       # other students are not


def test_selfcheck_session_expires(world):
    app, ids = world
    app.config["SELFCHECK_SESSION_MINUTES"] = 0.0001
    c = app.test_client()
    _, xh, idn, _ = ids["studs"][0]
    _check(c, xh, idn)
    time.sleep(0.05)
    assert c.get("/check/me/photo.jpg").status_code == 404
    assert c.get("/check/me").status_code == 302


def test_coverage_dashboard_counts_window_and_missing_export(world):
    app, ids = world
    boss = app.test_client()
    login(boss, "boss", "password-123")
    c = app.test_client()
    _check(c, ids["studs"][0][1], ids["studs"][0][2])
    c.post("/check/me/answer", data={"result": "correct"})
    c2 = app.test_client()
    _check(c2, ids["studs"][1][1], ids["studs"][1][2])
    c2.post("/check/me/answer", data={"result": "wrong", "category": "not_me"})
    page = boss.get("/admin/coverage/2027-07").get_data(as_text=True)
    for key, n in {"expected": 6, "captured": 5, "approved": 4, "in_batch": 0, "confirmed": 1, "wrong_open": 1}.items():
        assert f'id="n-{key}">{n}<' in page, key
    page = boss.get(f"/admin/coverage/2027-07?unit={ids['yanta']}").get_data(as_text=True)
    assert 'id="n-expected">4<' in page and 'id="n-approved">3<' in page
    r = boss.post("/admin/coverage/2027-07/window", data={"review_start": "2027-08-01", "review_end": "2027-07-01"},
                  follow_redirects=True)
    assert "开始日期不能晚于结束日期" in r.get_data(as_text=True)
    boss.post("/admin/coverage/2027-07/window", data={"review_start": "2027-08-03", "review_end": "2027-11-20",
                                                      "confirm_deadline": "2027-06-25"})
    with get_db(app).session() as s:
        t = terms.get_term(s, "2027-07")
        assert (str(t.review_start), str(t.review_end), str(t.confirm_deadline)) == \
            ("2027-08-03", "2027-11-20", "2027-06-25")
    r = boss.get(f"/admin/coverage/2027-07/missing.xlsx?unit={ids['yanta']}")
    ws = openpyxl.load_workbook(io.BytesIO(r.data)).active
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert [x[0] for x in rows] == [ids["studs"][3][1]]
    assert rows[0][8] == "已采集"
    assert "*" in rows[0][2]
    r = boss.get("/admin/coverage/2027-07/confirm-list?format=pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    # Operators see their own unit only and cannot edit the window.
    op = app.test_client()
    login(op, "op-weibin", "password-123")
    page = op.get("/admin/coverage/2027-07").get_data(as_text=True)
    assert 'id="n-expected">2<' in page and "window-save" not in page
    assert op.get(f"/admin/coverage/2027-07?unit={ids['yanta']}").status_code == 403
    assert op.post("/admin/coverage/2027-07/window", data={}).status_code == 403


def _wait_job(client, url):
    for _ in range(200):
        j = client.get(url).get_json()
        if j["state"] != "running":
            return j
        time.sleep(0.05)
    return j


def test_withdrawn_students_on_the_dashboard_exports_and_batch_page(world):
    """One student with an approved photo (雁塔) and one without any (渭滨) withdrawn: not
    expected, not missing, said as such in total and per centre (Chinese and English);
    the web-built batch holds the approved one back with the reason shown."""
    app, ids = world
    gone_xh = ids["studs"][0][1]
    with get_db(app).session() as s:
        for sid in (ids["studs"][0][0], ids["others"][1][0]):
            sync.withdraw_student(s, s.get(Student, sid), actor="boss", reason="退学")
    boss = app.test_client()
    login(boss, "boss", "password-123")
    page = boss.get("/admin/coverage/2027-07").get_data(as_text=True)
    for key, n in {"expected": 4, "captured": 4, "approved": 3, "in_batch": 0, "confirmed": 0}.items():
        assert f'id="n-{key}">{n}<' in page, key
    assert '<p class="muted" id="withdrawn-note">已撤销 2 人（不计入应到人数）</p>' in page
    rows = re.findall(r"<tr><td>(.*?)</td>", page.split('id="by-centre"')[1])
    assert rows == ['宝鸡分部 / 渭滨学习中心<div class="muted withdrawn-note">已撤销 1 人（不计入应到人数）</div>',
                    '西安分部 / 雁塔学习中心<div class="muted withdrawn-note">已撤销 1 人（不计入应到人数）</div>']
    page = boss.get(f"/admin/coverage/2027-07?unit={ids['yanta']}&lang=en").get_data(as_text=True)
    assert 'id="n-expected">3<' in page and "1 withdrawn (not counted as expected)" in page
    boss.get("/?lang=zh")
    r = boss.get("/admin/coverage/2027-07/missing.xlsx")
    ws = openpyxl.load_workbook(io.BytesIO(r.data)).active
    assert [x[0] for x in ws.iter_rows(min_row=2, values_only=True)] == [ids["studs"][3][1]]
    op = app.test_client()
    login(op, "op-weibin", "password-123")
    page = op.get("/admin/coverage/2027-07").get_data(as_text=True)
    assert 'id="n-expected">1<' in page and "已撤销 1 人（不计入应到人数）" in page
    # The batch: three photos, the withdrawn student listed as held back, with the reason.
    r = boss.post("/admin/batches/2027-07/build", data={"kind": "unit", "naming": "xh"},
                  headers={"Accept": "application/json"})
    j = _wait_job(boss, r.get_json()["status_url"])
    assert j["state"] == "done" and j["photos"] == 3, j
    assert [(x["xh"], x["code"]) for x in j["excluded"]] == [(gone_xh, "withdrawn")]
    page = boss.get("/admin/batches/2027-07").get_data(as_text=True)
    assert f'<div class="muted">{gone_xh} 学生已从本期名单撤销，不交付</div>' in page
    page = boss.get("/admin/coverage/2027-07").get_data(as_text=True)
    assert 'id="n-in_batch">3<' in page and 'id="n-expected">4<' in page
    home = boss.get("/admin/").get_data(as_text=True)          # the terms table counts the same way
    assert re.findall(r'<td class="num">(\d+)</td>', home.split("<b>2027-07</b>")[1])[:2] == ["4", "3"]


def test_admin_builds_a_batch_in_the_background_and_downloads_it(world):
    app, ids = world
    boss = app.test_client()
    login(boss, "boss", "password-123")
    r = boss.post("/admin/batches/2027-07/build", data={"kind": "unit", "naming": "xh", "group": ["学习中心"]},
                  headers={"Accept": "application/json"})
    assert r.status_code == 202, r.data
    url = r.get_json()["status_url"]
    for _ in range(200):
        j = boss.get(url).get_json()
        if j["state"] != "running":
            break
        time.sleep(0.05)
    assert j["state"] == "done" and j["photos"] == 4 and j["done"] == j["total"] == 8
    page = boss.get("/admin/batches/2027-07").get_data(as_text=True)
    assert f'data-id="{j["batch_id"]}"' in page
    with get_db(app).session() as s:
        b = s.get(Batch, j["batch_id"])
        sha = b.zip_sha256
        assert b.created_by_name == "boss"
    dl = boss.get(f"/admin/batches/download/{j['batch_id']}")
    assert dl.status_code == 200 and hashlib.sha256(dl.data).hexdigest() == sha
    r = boss.post("/admin/batches/2027-07/build", data={"kind": "unit"}, headers={"Accept": "application/json"})
    url = r.get_json()["status_url"]
    for _ in range(200):
        j = boss.get(url).get_json()
        if j["state"] != "running":
            break
        time.sleep(0.05)
    assert j["state"] == "error" and j["code"] == "empty"
    r = boss.post("/admin/batches/2027-07/build", data={"kind": "cloud"}, headers={"Accept": "application/json"})
    assert r.status_code == 400 and "未知的批次类型" in r.get_json()["error"]["message"]
    op = app.test_client()
    login(op, "op-yanta", "password-123")
    assert op.get("/admin/batches/2027-07").status_code == 403
    assert op.get(f"/admin/batches/download/{j.get('batch_id', 1)}").status_code == 403


def test_pages_render_in_english_too(world):
    app, ids = world
    c = app.test_client()
    _, xh, idn, _ = ids["studs"][2]
    assert "Show my photo" in c.get("/check/?lang=en").get_data(as_text=True)
    _check(c, xh, idn)
    c.post("/check/me/answer", data={"result": "wrong", "category": "info"})
    assert "Report the problem" in c.get("/check/me").get_data(as_text=True)
    boss = app.test_client()
    login(boss, "boss", "password-123")
    boss.get("/?lang=en")
    for url, text in [("/review/", "Review queue"), ("/admin/coverage/2027-07", "Coverage"),
                      ("/admin/batches/2027-07", "Build a new batch"), ("/admin/", "Coverage")]:
        r = boss.get(url)
        assert r.status_code == 200 and text in r.get_data(as_text=True), url
    assert boss.get("/admin/coverage/2099-01").status_code == 404
    r = boss.post("/admin/batches/2027-07/build", data={"kind": "unit", "unit": "987654"}, follow_redirects=True)
    assert "No such branch" in r.get_data(as_text=True)
