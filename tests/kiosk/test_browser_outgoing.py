"""Self-check, review queue and coverage dashboard in real headless Chromium."""
from __future__ import annotations

import hashlib
import zipfile

import pytest
from sqlalchemy import select

from kiosk.db import get_db
from kiosk.models import Role, Student
from kiosk.services import batches, photos, sync
from tests.browser import LiveServer, browser, screenshot

from .conftest import make_app
from .factories import add_photo, setup_term, user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("db_backend")]


def _world(tmp_path, **cfg):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True, PUBLIC_BASE_URL="https://photo.example.edu.cn", **cfg)
    store = app.extensions["kiosk_store"]
    with get_db(app).session() as s:
        term, yanta, studs = setup_term(s, n=5)
        _, weibin, others = setup_term(s, n=3, centre="渭滨学习中心", branch="宝鸡分部", start=10)
        for st in studs[:4] + others[:1]:
            st.collect_code = "C-" + st.xh
            photos.approve(s, add_photo(s, store, st), "test")
        add_photo(s, store, studs[4], "warn")
        batches.build_batch(s, store, term, out_dir=tmp_path / "out", unit=yanta, actor="test")
        user(s, "boss", role=Role.ADMIN)
        user(s, "op-yanta", org_unit_id=yanta.id)
        people = {"studs": [(x.xh, x.id_number, x.name) for x in studs], "others": [(x.xh, x.id_number) for x in others]}
    return app, people


def _verify(page, url, xh, idn):
    page.goto(url + "/check/")
    page.fill("#xh", xh)
    page.fill("#idtail", idn[-6:])
    page.click("#check-btn")


def _login(page, url, username):
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", "password-123")
    page.click("#login-btn")
    page.wait_for_load_state()


def test_student_confirms_their_photo(tmp_path, playwright_instance):
    app, people = _world(tmp_path)
    xh, idn, name = people["studs"][0]
    with LiveServer(app) as srv, browser(playwright_instance) as page:
        page.goto(srv.url + "/")
        page.click("text=学生照片核对")
        _verify(page, srv.url, xh, idn)
        page.wait_for_url(srv.url + "/check/me")
        assert page.inner_text("#sc-name") == name
        assert page.inner_text("#sc-status") == "已通过"
        assert page.evaluate("document.getElementById('photo').naturalWidth") == 480   # the photo loaded
        page.click("#btn-correct")
        assert "已确认照片正确" in page.inner_text(".flash")
        assert page.inner_text("#sc-last").startswith("正确")
        screenshot(page, "selfcheck-result")
        assert idn not in page.content()


def test_wrong_report_shows_up_for_the_branch(tmp_path, playwright_instance):
    app, people = _world(tmp_path)
    xh, idn, name = people["studs"][1]
    with LiveServer(app) as srv, browser(playwright_instance) as page:
        _verify(page, srv.url, xh, idn)
        page.wait_for_url(srv.url + "/check/me")
        page.click("#wrong-box summary")
        page.select_option("#category", "not_me")
        page.fill("#comment", "照片上是我同学")
        page.click("#btn-wrong")
        assert "已提交有误报告" in page.inner_text(".flash")
        page.click("#btn-finish")
        page.wait_for_url(srv.url + "/check/")
        _login(page, srv.url, "op-yanta")
        page.goto(srv.url + "/review/")
        row = page.locator(f'tr.review-row[data-xh="{xh}"]')
        assert row.count() == 1
        text = row.inner_text()
        assert "学生报告有误" in text and "不是本人" in text and "照片上是我同学" in text and name in text
        screenshot(page, "review-queue")


def test_wrong_details_and_too_many_tries_are_refused(tmp_path, playwright_instance):
    app, people = _world(tmp_path, SELFCHECK_MAX_ATTEMPTS=3)
    xh, idn, _ = people["studs"][0]
    no_photo_xh, no_photo_id, _ = people["studs"][4]
    with LiveServer(app) as srv, browser(playwright_instance) as page:
        messages = []
        for x, i in [(xh, "000000000000000000"), ("000000000000", idn), (no_photo_xh, no_photo_id)]:
            _verify(page, srv.url, x, i)
            messages.append(page.inner_text("#check-error"))
        assert len(set(messages)) == 1 and "不正确" in messages[0]
        _verify(page, srv.url, xh, idn)                       # right, but too many tries
        assert "尝试次数过多" in page.inner_text("#check-error")
        assert page.is_disabled("#check-btn")
        assert page.url.startswith(srv.url + "/check/") and "/me" not in page.url


def test_dashboard_shows_the_right_counts(tmp_path, playwright_instance):
    app, people = _world(tmp_path)
    with LiveServer(app) as srv, browser(playwright_instance) as page:
        _verify(page, srv.url, *people["studs"][0][:2])
        page.click("#btn-correct")
        page.click("#btn-finish")
        _verify(page, srv.url, *people["studs"][2][:2])
        page.click("#wrong-box summary")
        page.select_option("#category", "quality")
        page.click("#btn-wrong")
        page.click("#btn-finish")
        _login(page, srv.url, "boss")
        page.click("text=覆盖情况")
        page.wait_for_url(srv.url + "/admin/coverage/2027-07")
        want = {"expected": 8, "captured": 6, "approved": 5, "in_batch": 4, "confirmed": 1, "wrong_open": 1}
        assert {k: int(page.inner_text(f"#n-{k}")) for k in want} == want
        assert page.locator("#coverage-chart rect.bar").count() == 6
        assert page.inner_text("#review-window") == "2027-08-01 – 2027-11-30"
        screenshot(page, "coverage-dashboard")
        page.select_option("#unit", label="渭滨学习中心".rjust(7, "　"))
        page.click("#unit-btn")
        assert int(page.inner_text("#n-expected")) == 3 and int(page.inner_text("#n-approved")) == 1


def test_dashboard_says_who_is_withdrawn_and_not_counted(tmp_path, playwright_instance):
    app, people = _world(tmp_path)
    with get_db(app).session() as s:
        for xh in (people["studs"][1][0], people["others"][2][0]):      # one delivered, one without a photo
            sync.withdraw_student(s, s.scalar(select(Student).where(Student.xh == xh)), actor="boss", reason="退学")
    with LiveServer(app) as srv, browser(playwright_instance) as page:
        _login(page, srv.url, "boss")
        page.goto(srv.url + "/admin/coverage/2027-07")
        want = {"expected": 6, "captured": 5, "approved": 4, "in_batch": 3}
        assert {k: int(page.inner_text(f"#n-{k}")) for k in want} == want
        assert page.is_visible("#withdrawn-note") and page.inner_text("#withdrawn-note") == "已撤销 2 人（不计入应到人数）"
        notes = page.locator("#by-centre .withdrawn-note")
        assert notes.count() == 2 and set(notes.all_inner_texts()) == {"已撤销 1 人（不计入应到人数）"}
        screenshot(page, "coverage-withdrawn")


def test_admin_builds_and_downloads_a_batch_on_the_page(tmp_path, playwright_instance, monkeypatch):
    app, people = _world(tmp_path)
    monkeypatch.setenv(batches.PAUSE_ENV, "0.1")        # slow enough to see the progress bar move
    with LiveServer(app) as srv, browser(playwright_instance) as page:
        _login(page, srv.url, "boss")
        page.goto(srv.url + "/admin/batches/2027-07")
        assert page.locator("tr.batch-row").count() == 1    # the one built in _world
        page.select_option("#kind", "school")
        page.check("input[name=group][value=学习中心]")
        page.click("#build-btn")
        page.wait_for_selector("#job-text:has-text('正在生成批次')")
        page.wait_for_selector("#job-text:has-text('批次已生成')", timeout=30_000)
        page.wait_for_function("document.querySelectorAll('tr.batch-row').length === 2")
        screenshot(page, "admin-batches")
        with page.expect_download() as dl:
            page.locator("tr.batch-row").first.locator("a.button").click()
        path = dl.value.path()
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        assert "雁塔学习中心/" + people["studs"][0][0] + ".jpg" in names and "manifest.csv" in names
        with get_db(app).session() as s:
            newest = batches.list_batches(s)[0]
            assert newest.kind == "school" and newest.zip_sha256 == hashlib.sha256(open(path, "rb").read()).hexdigest()
