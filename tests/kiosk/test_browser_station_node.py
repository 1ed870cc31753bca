"""The station page served by a station node while the central server is down, in real
headless Chromium with a fake camera: the operator logs in with the account the node
pulled, captures and approves, and the page says 离线 with the numbers waiting."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from capture import write_y4m
from kiosk.db import get_db
from kiosk.models import OrgUnit, Photo, Student, Term
from kiosk.services import node, photos, sync
from tests.browser import LiveServer, browser, screenshot

from .conftest import make_app
from .factories import add_photo
from .stationdata import frame_rgb, world

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("corpus_dir")]


def test_node_station_page_works_offline_and_says_so(tmp_path, db_backend, playwright_instance):
    capp = make_app(tmp_path / "central")
    with get_db(capp).session() as s:
        w = world(s, capp.extensions["kiosk_store"], reference=True)
        _row, token = sync.create_token(s, s.scalar(select(Term)), s.get(OrgUnit, w["yanta"]), name="n", actor="t")
        # on the server already: student 1 has an approved photo, student 2 was withdrawn
        st1 = s.get(Student, w["studs"][1][0])
        photos.approve(s, add_photo(s, capp.extensions["kiosk_store"], st1), "test")
        sync.withdraw_student(s, s.get(Student, w["studs"][2][0]), actor="test")
    with LiveServer(capp) as central:
        napp = make_app(tmp_path / "node", DATABASE_URL=f"sqlite:///{tmp_path / 'node' / 'instance' / 'kiosk.sqlite3'}",
                        WTF_CSRF_ENABLED=True, NODE_SERVER=central.url, NODE_TERM="2027-07",
                        NODE_UNIT="雁塔学习中心", NODE_TOKEN=token, NODE_NAME="n")
        node.sync_once(napp, force_pull=True)
    # the central server is gone from here on
    worker = node.SyncWorker(napp, interval=0.3, max_backoff=1.0)
    worker.start()
    cam = tmp_path / "camera.y4m"
    write_y4m(cam, [frame_rgb("pass")])
    sid, xh, name, _idn = w["studs"][0]
    try:
        with LiveServer(napp) as srv, browser(playwright_instance, camera=cam) as page:
            page.goto(srv.url + "/login")
            page.fill("#username", "op")
            page.fill("#password", "password-123")
            page.click("#login-btn")
            page.wait_for_url(srv.url + "/station/")
            page.fill("#place", "图书馆一楼")
            page.fill("#station_name", "1号机位")
            page.click("#start-btn")
            page.wait_for_url(srv.url + "/station/session")
            page.wait_for_selector("#station[data-ready='1']", state="attached")
            page.wait_for_function("document.getElementById('node-online').textContent === '离线'")
            assert page.get_attribute("#node-status", "data-state") == "offline"
            assert "中心服务器不可达" in page.inner_text("#node-error")
            assert "Errno" not in page.inner_text("#node-error")          # the technical reason: on hover only
            assert page.get_attribute("#node-error", "title")
            page.fill("#q", xh)
            page.press("#q", "Enter")
            page.wait_for_selector("#student-card:not([hidden])")
            assert page.inner_text("#student-name") == name
            page.wait_for_selector("#hints.ready", timeout=30_000)
            page.keyboard.press("Enter")                  # capture: guidance and QC on this computer
            page.wait_for_selector("#result:not([hidden])", timeout=30_000)
            assert page.inner_text("#verdict") == "合格"
            page.keyboard.press("a")
            page.wait_for_selector("#result", state="hidden")
            assert page.inner_text("#student-status") == "已通过"
            page.wait_for_function("document.getElementById('node-approvals').textContent === '1'", timeout=10_000)
            assert page.inner_text("#node-photos") == "1"
            assert int(page.inner_text("#node-waiting")) >= 2      # capture, approval and their audit entries
            assert re.fullmatch(r"\d\d:\d\d:\d\d", page.inner_text("#node-last"))   # the pull before the drop
            assert page.is_hidden("#node-refused-wrap")
            assert page.is_hidden("#node-student-note")
            # students the server already settled are flagged before anyone approves again
            for k, text in ((1, "中心服务器已有该学生的通过照片"), (2, "已在中心服务器名单中撤销")):
                page.fill("#q", w["studs"][k][1])
                page.press("#q", "Enter")
                page.wait_for_function(f"document.getElementById('student-xh').textContent === '{w['studs'][k][1]}'")
                page.wait_for_selector("#node-student-note:not([hidden])")
                assert text in page.inner_text("#node-student-note")
            # offline, the node's copy of the roster says withdrawn: shown, not photographed
            assert "不采集" in page.inner_text("#student-withdrawn") and page.is_disabled("#capture-btn")
            assert page.is_hidden("#result")
            screenshot(page, "station-node-offline")
    finally:
        worker.stop_event.set()
        worker.join(timeout=10)
    with get_db(napp).session() as s:
        p = photos.approved_photo(s, s.scalar(select(Student.id).where(Student.xh == xh)))
        assert p is not None and p.status == "approved"
        st = node.status(s, napp)
    assert st["online"] is False and st["waiting_approvals"] == 1
    with get_db(capp).session() as s:
        assert s.scalar(select(Photo).where(Photo.student_id == sid)) is None   # nothing arrived while it was down
