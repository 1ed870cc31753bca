"""The operator station in real headless Chromium with a fake camera fed from a .y4m
made from a real portrait: log in, start a session, find the student, capture, decide."""
from __future__ import annotations

import pytest
from sqlalchemy import select

import qc
from capture import write_y4m
from kiosk.db import get_db
from kiosk.models import AuditEntry, Photo, Student
from kiosk.services import photos, sync
from tests.browser import LiveServer, browser, screenshot

from .conftest import make_app
from .stationdata import QR_TEXT, frame_rgb, world

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("corpus_dir", "db_backend")]


def _setup(tmp_path, kind: str | None):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with get_db(app).session() as s:
        w = world(s, app.extensions["kiosk_store"], reference=True)
    cam = None
    if kind is not None:
        cam = tmp_path / f"camera-{kind}.y4m"
        write_y4m(cam, [frame_rgb(kind)])
    return app, w, cam


def _login_and_start(page, url, username="op", station="1号机位"):
    page.goto(url + "/login")
    page.fill("#username", username)
    page.fill("#password", "password-123")
    page.click("#login-btn")
    page.wait_for_url(url + "/station/")           # an operator lands on the station
    page.fill("#place", "图书馆一楼")
    page.fill("#station_name", station)
    page.click("#start-btn")
    page.wait_for_url(url + "/station/session")
    page.wait_for_selector("#station[data-ready='1']", state="attached")


def _find(page, q):
    page.fill("#q", q)
    page.press("#q", "Enter")


def _audit(app, action):
    with get_db(app).session() as s:
        return s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def test_find_capture_see_verdict_approve(tmp_path, playwright_instance):
    app, w, cam = _setup(tmp_path, "pass")
    sid, xh, name, idn = w["studs"][0]
    with LiveServer(app) as srv, browser(playwright_instance, camera=cam) as page:
        _login_and_start(page, srv.url)
        # the camera runs at 1280×720 and the live hints arrive, with the overlay drawn
        page.wait_for_function("document.getElementById('cam-info').textContent.includes('1280')")
        page.wait_for_selector("#hints.ready", timeout=30_000)
        assert page.is_hidden("#cam-warning")
        _find(page, xh)
        page.wait_for_selector("#student-card:not([hidden])")
        assert page.inner_text("#student-name") == name
        assert page.inner_text("#student-idn") == idn[:4] + "*" * 10 + idn[-4:]
        assert page.is_visible("#reference-img")
        screenshot(page, "station-live")
        page.keyboard.press("Enter")                 # capture
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        assert page.inner_text("#verdict") == "合格"
        page.wait_for_function("document.getElementById('result-img').naturalWidth > 0")
        screenshot(page, "station-result")
        page.keyboard.press("a")                     # approve
        page.wait_for_selector("#result", state="hidden")
        assert page.inner_text("#student-status") == "已通过"
        assert page.inner_text("#progress-approved") == "1"
        assert "已通过" in page.inner_text("#toast")
        # a student withdrawn from the roster: marked in the list, shown, never photographed
        gone_id = w["studs"][2][0]
        with get_db(app).session() as s:
            sync.withdraw_student(s, s.get(Student, gone_id), actor="boss", reason="退学")
        _find(page, "xuesheng")
        page.wait_for_selector(f"#results li[data-id='{gone_id}']")
        assert page.inner_text(f"#results li[data-id='{gone_id}'] .badge.withdrawn") == "已撤销"
        assert page.locator("#results li .badge.withdrawn").count() == 1
        page.click(f"#results li[data-id='{gone_id}']")
        page.wait_for_selector("#student-withdrawn:not([hidden])")
        assert page.inner_text("#student-withdrawn") == "该学生已从本期名单撤销，不采集；如有误请联系管理员恢复"
        assert page.is_disabled("#capture-btn") and "不采集" in page.inner_text("#hints")
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('toast').textContent.includes('不采集')")
        forged = page.evaluate("""() => fetch('/api/v1/station/capture', {method: 'POST',
              headers: {'Content-Type': 'image/jpeg',
                        'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content},
              body: new Uint8Array([255, 216, 255, 224])}).then(r => r.json().then(j => [r.status, j.error.code]))""")
        assert forged == [409, "student_withdrawn"]
        screenshot(page, "station-withdrawn")
    with get_db(app).session() as s:
        p = photos.approved_photo(s, sid)
        assert p is not None and (p.width, p.height) == (480, 640) and p.source == "capture"
        spec = app.extensions["kiosk_store"].get(p.sha256)
        original = app.extensions["kiosk_store"].get(p.original_sha256)
    report = qc.check_photo(spec)
    assert report.verdict.value == "pass" and (report.width, report.height) == (480, 640)
    assert original[:3] == b"\xff\xd8\xff" and len(original) > 50_000      # the full 1280×720 frame was kept
    entry = _audit(app, "photo.approve")[-1]
    assert (entry.photo_sha256, entry.actor, entry.station) == (p.sha256, "op", "1号机位")
    with get_db(app).session() as s:
        assert s.scalar(select(Photo.id).where(Photo.student_id == w["studs"][2][0])) is None


def test_blurred_frame_is_refused_then_admin_override(tmp_path, playwright_instance):
    app, w, cam = _setup(tmp_path, "blur")
    sid, xh, _, _ = w["studs"][1]
    with LiveServer(app) as srv, browser(playwright_instance, camera=cam) as page:
        _login_and_start(page, srv.url)
        _find(page, xh)
        page.wait_for_selector("#student-card:not([hidden])")
        page.click("#capture-btn")
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        assert page.inner_text("#verdict") == "不合格"
        row = page.locator("#problems li[data-check='sharpness']")
        assert "清晰" in row.inner_text() and "≥" in row.inner_text()
        assert page.is_disabled("#approve-btn")
        page.keyboard.press("a")                      # the shortcut goes to the server, which refuses
        page.wait_for_selector("#decision-msg:not([hidden])")
        assert "只能重拍" in page.inner_text("#decision-msg")
        screenshot(page, "station-result-fail")
        # a forged approve from the page's own session is refused as well
        pid = page.evaluate("fetch('/api/v1/station/state').then(r => r.json()).then(j => j.state.result.photo_id)")
        forged = page.evaluate("""pid => fetch('/api/v1/station/photos/' + pid + '/approve', {method: 'POST',
              headers: {'Content-Type': 'application/json',
                        'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content},
              body: JSON.stringify({checklist: ['no_jewellery', 'ears_visible', 'no_hat', 'no_tinted_lenses']})})
              .then(r => r.json().then(j => [r.status, j.error.code]))""", pid)
        assert forged == [403, "fail_needs_admin"]
        with get_db(app).session() as s:
            assert photos.approved_photo(s, sid) is None
        # an administrator overrides at the station with their own credentials and a reason
        page.click("#override-btn")
        page.fill("#ov-username", "boss")
        page.fill("#ov-password", "not-the-password")
        page.fill("#ov-reason", "学生明日离校，先用此照片")
        page.click("#ov-submit")
        page.wait_for_selector("#ov-msg:not([hidden])")
        assert "不正确" in page.inner_text("#ov-msg")
        page.fill("#ov-password", "password-123")
        page.click("#ov-submit")
        page.wait_for_selector("#result", state="hidden")
        assert page.inner_text("#student-status") == "已通过"
    with get_db(app).session() as s:
        p = photos.approved_photo(s, sid)
        assert p.id == pid and p.override and p.decided_by.username == "boss"
    ov = _audit(app, "station.override")[-1]
    assert ov.actor == "boss" and ov.detail["operator"] == "op" and ov.photo_sha256 == p.sha256
    assert _audit(app, "station.override_denied")[-1].detail["admin_username"] == "boss"


def test_warn_needs_the_checklist_and_a_reload_resumes(tmp_path, playwright_instance):
    app, w, cam = _setup(tmp_path, "glare")
    sid, xh, name, _ = w["studs"][2]
    with LiveServer(app) as srv, browser(playwright_instance, camera=cam) as page:
        _login_and_start(page, srv.url)
        _find(page, name)                                  # by name this time
        page.wait_for_selector("#student-card:not([hidden])")
        # As the other capture tests do: the camera is live and the capture button armed
        # before Enter (once, in CI, an Enter right after the card appeared sent no capture
        # while the live guidance kept running).
        page.wait_for_selector("#hints.ready, #hints.notready", timeout=30_000)
        page.wait_for_selector("#capture-btn:enabled")
        page.keyboard.press("Enter")
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        assert page.inner_text("#verdict").startswith("有提醒")
        assert page.locator("#problems li[data-check='glasses_glare']").count() == 1
        pid = page.evaluate("fetch('/api/v1/station/state').then(r => r.json()).then(j => j.state.result.photo_id)")
        page.reload()                                      # resumes: same student, same photo awaiting
        page.wait_for_selector("#station[data-ready='1']", state="attached")
        page.wait_for_selector("#result:not([hidden])")
        assert page.inner_text("#student-name") == name
        assert page.evaluate("document.getElementById('result-img').src").endswith(f"/photos/{pid}/annotated.png?v={pid}")
        assert page.is_disabled("#approve-btn")
        page.keyboard.press("a")
        page.wait_for_selector("#decision-msg:not([hidden])")
        assert "检查清单" in page.inner_text("#decision-msg")
        for k in "123":
            page.keyboard.press(k)
        assert page.is_disabled("#approve-btn")
        page.keyboard.press("4")
        assert page.is_enabled("#approve-btn")
        page.keyboard.press("a")
        page.wait_for_selector("#result", state="hidden")
    with get_db(app).session() as s:
        p = photos.approved_photo(s, sid)
        assert p.id == pid and p.qc_verdict == "warn" and p.decision_note == "人工检查清单已确认"


def test_qr_scan_from_the_camera_stores_the_code_verbatim(tmp_path, playwright_instance):
    app, w, cam = _setup(tmp_path, "qr")
    sid, xh, _, _ = w["studs"][0]
    with LiveServer(app) as srv, browser(playwright_instance, camera=cam) as page:
        _login_and_start(page, srv.url)
        _find(page, xh)
        page.wait_for_selector("#student-card:not([hidden])")
        page.wait_for_function("document.getElementById('video').videoWidth > 0")
        page.keyboard.press("q")
        page.wait_for_function(f"document.getElementById('collect-code').textContent === {QR_TEXT!r}")
        assert "已保存采集码" in page.inner_text("#toast")
    with get_db(app).session() as s:
        st = s.get(Student, sid)
        assert st.collect_code == QR_TEXT
    assert _audit(app, "student.collect_code")[-1].detail["code"] == QR_TEXT


def test_operator_of_another_centre_cannot_open_the_student(tmp_path, playwright_instance):
    app, w, cam = _setup(tmp_path, "pass")
    sid, xh, name, _ = w["studs"][0]
    with LiveServer(app) as srv, browser(playwright_instance, camera=cam) as page:
        _login_and_start(page, srv.url, "op-weibin", "渭滨1号")
        _find(page, xh)
        page.wait_for_function("document.getElementById('search-msg').textContent.length > 0")
        assert page.inner_text("#search-msg") == "没有找到学生"
        assert page.is_hidden("#student-card")
        status = page.evaluate("""sid => fetch('/api/v1/station/select', {method: 'POST',
              headers: {'Content-Type': 'application/json',
                        'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content},
              body: JSON.stringify({student_id: sid})}).then(r => r.json().then(j => [r.status, j.error.code]))""", sid)
        assert status == [404, "not_found"]
        ref = page.evaluate(f"fetch('/api/v1/station/students/{sid}/reference.jpg').then(r => r.status)")
        assert ref == 404
        assert name not in page.content()
    with get_db(app).session() as s:
        assert s.scalar(select(Photo.id)) is None


def _start_server_camera(page, url, kind, value):
    page.goto(url + "/login")
    page.fill("#username", "op")
    page.fill("#password", "password-123")
    page.click("#login-btn")
    page.wait_for_url(url + "/station/")
    page.fill("#station_name", "2号机位")
    page.check(f"input[name=camera_kind][value={kind}]")
    page.fill("#camera_value", str(value))
    page.click("#start-btn")
    page.wait_for_url(url + "/station/session")
    page.wait_for_selector("#station[data-ready='1']", state="attached")


def test_hot_folder_station_takes_the_dropped_file(tmp_path, playwright_instance):
    app, w, _ = _setup(tmp_path, None)
    app.config["STATION_HOTFOLDER_SETTLE"] = 0.05
    folder = tmp_path / "drop"
    folder.mkdir()
    sid, xh, _, _ = w["studs"][0]
    from .stationdata import frame_jpeg

    with LiveServer(app) as srv, browser(playwright_instance) as page:
        _start_server_camera(page, srv.url, "hotfolder", folder)
        assert str(folder) in page.inner_text("#hotfolder-wait")
        _find(page, xh)
        page.wait_for_selector("#student-card:not([hidden])")
        (folder / "DSC_0042.JPG").write_bytes(frame_jpeg("pass"))
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        assert page.inner_text("#verdict") == "合格"
        page.keyboard.press("a")
        page.wait_for_selector("#result", state="hidden")
    with get_db(app).session() as s:
        assert photos.approved_photo(s, sid).original_name == "DSC_0042.JPG"


def test_opencv_station_shows_the_server_preview_with_hints(tmp_path, playwright_instance):
    app, w, cam = _setup(tmp_path, "pass")        # the y4m plays as an OpenCV "device"
    sid, xh, _, _ = w["studs"][1]
    with LiveServer(app) as srv, browser(playwright_instance) as page:
        _start_server_camera(page, srv.url, "opencv", cam)
        page.wait_for_function("document.getElementById('server-preview').naturalWidth > 0")
        page.wait_for_selector("#hints.ready", timeout=30_000)
        _find(page, xh)
        page.wait_for_selector("#student-card:not([hidden])")
        page.keyboard.press("Enter")
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        assert page.inner_text("#verdict") == "合格"
        page.click("#retake-btn")
        page.wait_for_selector("#result", state="hidden")
        page.click("text=结束场次")
        page.wait_for_url(srv.url + "/station/")
    with get_db(app).session() as s:
        assert s.scalar(select(Photo.status)) == "rejected"
