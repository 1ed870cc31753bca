"""The operator station through its JSON API (Flask test client): sessions, scope,
capture → verdict, decisions enforced by the server, QR codes, resume, calls, server
cameras, and bad input."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

import qc
from kiosk.db import get_db
from kiosk.models import AuditEntry, CaptureSession, Photo, ReviewItem, Station, StationCall, Student
from kiosk.services import photos

from .conftest import login, make_app
from .stationdata import QR_TEXT, frame_jpeg, frame_rgb, qr_frame, world

pytestmark = pytest.mark.usefixtures("corpus_dir")

API = "/api/v1/station"


@pytest.fixture
def station(db_backend, tmp_path):
    app = make_app(tmp_path, STATION_HOTFOLDER_SETTLE=0.05)
    with get_db(app).session() as s:
        w = world(s, app.extensions["kiosk_store"], reference=True)
    return app, w


def _start(client, username="op", **form):
    assert login(client, username, "password-123").status_code == 302
    data = {"term": "2027-07", "place": "图书馆一楼", "station_name": "1号机位", "camera_kind": "browser", **form}
    r = client.post("/station/start", data=data)
    assert r.status_code == 302 and r.location.endswith("/station/session"), r.data
    return client


def _select(client, student_id):
    r = client.post(API + "/select", json={"student_id": student_id})
    assert r.status_code == 200, r.json
    return r.json["state"]


def _capture(client, kind="pass"):
    r = client.post(API + "/capture", data=frame_jpeg(kind), content_type="image/jpeg")
    assert r.status_code == 200, r.json
    return r.json["result"]


def _audit(app, action):
    with get_db(app).session() as s:
        return s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def test_session_start_is_recorded_and_search_finds_by_xh_id_tail_and_pinyin(station):
    app, w = station
    c = _start(app.test_client())
    with get_db(app).session() as s:
        cs = s.scalar(select(CaptureSession))
        assert (cs.place, cs.camera, cs.station.name, cs.ended_at) == ("图书馆一楼", {"kind": "browser"}, "1号机位", None)
        assert s.scalar(select(Station)).org_unit_id == w["yanta"]
    entry = _audit(app, "station.session_start")[-1]
    assert entry.actor == "op" and entry.station == "1号机位" and entry.detail["term"] == "2027-07"
    sid, xh, name, idn = w["studs"][1]
    for q in (xh, idn[-6:], name, "xuesheng1"):
        r = c.get(API + "/students", query_string={"q": q})
        assert [x["xh"] for x in r.json["students"]] == [xh], q
        assert r.json["students"][0]["id_masked"] == idn[:4] + "*" * 10 + idn[-4:]
    card = _select(c, sid)["student"]
    assert card["name"] == name and card["id_masked"].startswith("6101**********") and card["major"] == "行政管理"
    assert idn not in str(card)


def test_capture_pass_then_approve_gives_a_spec_photo_and_audit(station):
    app, w = station
    c = _start(app.test_client())
    sid = w["studs"][0][0]
    _select(c, sid)
    res = _capture(c, "pass")
    assert res["verdict"] == "pass" and res["decidable"] and not res["problems"] and res["refusal"] is None
    png = c.get(res["annotated_url"])
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    received = _audit(app, "station.frame_received")[-1]
    assert received.photo_sha256 == res["original_sha256"] and received.station == "1号机位"
    r = c.post(f"{API}/photos/{res['photo_id']}/approve", json={"checklist": []})
    assert r.status_code == 200, r.json
    st = r.json["state"]
    assert st["result"] is None and st["student"]["status"] == "approved"
    assert st["progress"] == {"total": 3, "captured": 1, "approved": 1, "remaining": 2,
                              "session_captured": 1, "session_approved": 1}
    assert sid not in [q["id"] for q in st["queue"]]
    with get_db(app).session() as s:
        p = photos.approved_photo(s, sid)
        assert p.sha256 == res["sha256"] and (p.width, p.height) == (480, 640) and p.session_id is not None
        data = app.extensions["kiosk_store"].get(p.sha256)
    report = qc.check_photo(data)
    assert report.verdict.value == "pass" and (report.width, report.height) == (480, 640)
    entry = _audit(app, "photo.approve")[-1]
    assert (entry.photo_sha256, entry.actor, entry.station) == (res["sha256"], "op", "1号机位") and entry.at is not None


def test_photo_file_missing_from_the_store_is_a_coded_404_not_a_crash(station):
    app, w = station
    c = _start(app.test_client())
    _select(c, w["studs"][0][0])
    res = _capture(c, "pass")
    assert c.get(f"{API}/photos/{res['photo_id']}/photo.jpg").status_code == 200
    app.extensions["kiosk_store"].path_for(res["sha256"]).unlink()
    r = c.get(f"{API}/photos/{res['photo_id']}/photo.jpg")
    assert r.status_code == 404 and r.json["error"] == {"code": "not_found", "message": "照片文件缺失"}


def test_failing_photo_is_refused_even_for_a_forged_approve(station):
    app, w = station
    c = _start(app.test_client())
    sid = w["studs"][0][0]
    _select(c, sid)
    res = _capture(c, "blur")
    assert res["verdict"] == "fail" and res["needs_admin"]
    sharp = [p for p in res["problems"] if p["check"] == "sharpness"][0]
    assert sharp["status"] == "fail" and "清晰" in sharp["message"] and sharp["measured"] and sharp["expected"]
    for body in ({"checklist": ["no_jewellery", "ears_visible", "no_hat", "no_tinted_lenses"]}, {"override": True}, None):
        r = c.post(f"{API}/photos/{res['photo_id']}/approve", json=body)
        assert r.status_code == 403 and r.json["ok"] is False and r.json["error"]["code"] == "fail_needs_admin"
    with get_db(app).session() as s:
        assert photos.approved_photo(s, sid) is None
        assert s.get(Photo, res["photo_id"]).status == "captured"
    assert len(_audit(app, "station.approve_refused")) == 3


def test_unusable_frame_shows_the_reason_and_cannot_be_approved(station):
    app, w = station
    c = _start(app.test_client())
    _select(c, w["studs"][0][0])
    res = _capture(c, "noface")
    assert res["verdict"] == "unusable" and res["refusal"]["code"] == "no_face"
    assert "人脸" in res["refusal"]["message"] and res["refusal"]["hints"] and res["annotated_url"] is None
    r = c.post(f"{API}/photos/{res['photo_id']}/approve", json={})
    assert r.status_code == 409 and r.json["error"]["code"] == "state"
    # R moves on: the refused frame no longer shows after a reload
    assert c.post(f"{API}/photos/{res['photo_id']}/retake").json["state"]["result"] is None
    assert c.get(API + "/state").json["state"]["result"] is None


def test_warn_needs_every_checklist_item(station):
    app, w = station
    c = _start(app.test_client())
    sid = w["studs"][1][0]
    _select(c, sid)
    res = _capture(c, "glare")
    assert res["verdict"] == "warn" and res["needs_checklist"] and not res["needs_admin"]
    assert any(p["check"] == "glasses_glare" and p["status"] == "warn" for p in res["problems"])
    url = f"{API}/photos/{res['photo_id']}/approve"
    for ticked in ([], ["no_jewellery", "ears_visible", "no_hat"], ["bogus"] * 4):
        r = c.post(url, json={"checklist": ticked})
        assert r.status_code == 403 and r.json["error"]["code"] == "checklist_required", ticked
    r = c.post(url, json={"checklist": ["no_jewellery", "ears_visible", "no_hat", "no_tinted_lenses"]})
    assert r.status_code == 200
    with get_db(app).session() as s:
        p = photos.approved_photo(s, sid)
        assert p.id == res["photo_id"] and p.decision_note == "人工检查清单已确认" and not p.override
    assert _audit(app, "photo.approve")[-1].detail["checklist"] is True


def test_fail_needs_an_admins_own_credentials_and_a_reason(station):
    app, w = station
    c = _start(app.test_client())
    sid = w["studs"][0][0]
    _select(c, sid)
    res = _capture(c, "blur")
    url = f"{API}/photos/{res['photo_id']}/override"
    cases = [({"username": "boss", "password": "password-123", "reason": ""}, 400, "reason_required"),
             ({"username": "boss", "password": "wrong-password", "reason": "学生视力原因无法对焦"}, 403, "override_denied"),
             ({"username": "op", "password": "password-123", "reason": "学生视力原因无法对焦"}, 403, "override_denied")]
    for body, status, code in cases:
        r = c.post(url, json=body)
        assert (r.status_code, r.json["error"]["code"]) == (status, code), body
    denied = _audit(app, "station.override_denied")
    assert [d.detail["admin_username"] for d in denied] == ["boss", "op"] and all(d.actor == "op" for d in denied)
    r = c.post(url, json={"username": "boss", "password": "password-123", "reason": "设备故障，学生明日离校，先用此照"})
    assert r.status_code == 200, r.json
    with get_db(app).session() as s:
        p = photos.approved_photo(s, sid)
        assert p.id == res["photo_id"] and p.override and p.decided_by.username == "boss"
        assert p.decision_note == "设备故障，学生明日离校，先用此照"
    approve = _audit(app, "photo.approve")[-1]
    assert approve.actor == "boss" and approve.detail["override"] is True and approve.photo_sha256 == res["sha256"]
    ov = _audit(app, "station.override")[-1]
    assert (ov.actor, ov.detail["operator"], ov.station) == ("boss", "op", "1号机位")


def test_override_attempts_are_limited(station):
    app, w = station
    c = _start(app.test_client())
    _select(c, w["studs"][0][0])
    res = _capture(c, "blur")
    url = f"{API}/photos/{res['photo_id']}/override"
    codes = [c.post(url, json={"username": "boss", "password": f"guess-{i}", "reason": "试一下密码"}).json["error"]["code"]
             for i in range(6)]
    assert codes == ["override_denied"] * 5 + ["rate_limited"]
    r = c.post(url, json={"username": "boss", "password": "password-123", "reason": "理由写清楚了"})
    assert r.json["error"]["code"] == "rate_limited"


def test_operator_of_another_centre_cannot_open_the_student(station):
    app, w = station
    c = _start(app.test_client(), "op-weibin", station_name="渭滨1号")
    sid, xh, name, idn = w["studs"][0]
    for q in (xh, idn[-6:], name):
        assert c.get(API + "/students", query_string={"q": q}).json["students"] == []
    for r in (c.post(API + "/select", json={"student_id": sid}), c.get(f"{API}/students/{sid}"),
              c.get(f"{API}/students/{sid}/reference.jpg")):
        assert r.status_code == 404 and r.json == {"ok": False, "error": {"code": "not_found", "message": r.json["error"]["message"]}}
    assert c.get(API + "/state").json["state"]["progress"]["total"] == 2
    # and the operator of the student's own centre can, reference photo included
    c2 = _start(app.test_client())
    assert c2.get(f"{API}/students/{sid}/reference.jpg").mimetype == "image/jpeg"


def test_photo_of_another_session_is_not_reachable(station):
    app, w = station
    c = _start(app.test_client())
    _select(c, w["studs"][0][0])
    res = _capture(c, "pass")
    other = _start(app.test_client(), "op-weibin", station_name="渭滨1号")
    r = other.post(f"{API}/photos/{res['photo_id']}/approve", json={})
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    assert other.get(f"{API}/photos/{res['photo_id']}/annotated.png").status_code == 404


def test_reload_and_restart_resume_the_student_and_the_pending_photo(station, tmp_path):
    app, w = station
    c = _start(app.test_client())
    sid = w["studs"][2][0]
    _select(c, sid)
    res = _capture(c, "glare")
    # server restart: a new app on the same instance (database and store)
    app2 = make_app(tmp_path, STATION_HOTFOLDER_SETTLE=0.05)
    c2 = app2.test_client()
    assert login(c2, "op", "password-123").status_code == 302
    assert c2.get("/station/", follow_redirects=False).location.endswith("/station/session")
    st = c2.get(API + "/state").json["state"]
    assert st["student"]["id"] == sid and st["result"]["photo_id"] == res["photo_id"]
    assert st["result"]["verdict"] == "warn" and st["result"]["problems"] == res["problems"]
    assert c2.get(st["result"]["annotated_url"]).data[:4] == b"\x89PNG"   # drawn again after the restart
    # capturing again sets the pending one aside as a retake: one photo awaits at a time
    res2 = _capture(c2, "pass")
    with get_db(app2).session() as s:
        assert s.get(Photo, res["photo_id"]).status == "rejected"
    assert c2.get(API + "/state").json["state"]["result"]["photo_id"] == res2["photo_id"]


def test_qr_code_is_stored_verbatim_and_selects_its_student_later(station):
    app, w = station
    c = _start(app.test_client())
    r = c.post(API + "/qr", data=frame_jpeg("qr"), content_type="image/jpeg")
    assert r.status_code == 409 and r.json["error"]["code"] == "no_student"
    sid = w["studs"][1][0]
    _select(c, sid)
    r = c.post(API + "/qr", data=frame_jpeg("qr"), content_type="image/jpeg")
    assert r.status_code == 200 and r.json["action"] == "stored" and r.json["code"] == QR_TEXT
    with get_db(app).session() as s:
        st = s.get(Student, sid)
        assert st.collect_code == QR_TEXT and st.collect_code_at is not None
    entry = _audit(app, "student.collect_code")[-1]
    assert entry.detail["code"] == QR_TEXT and entry.station == "1号机位"
    # scanning the same code with another student at the camera selects its owner
    _select(c, w["studs"][0][0])
    r = c.post(API + "/qr", data=frame_jpeg("qr"), content_type="image/jpeg")
    assert r.json["action"] == "selected" and r.json["state"]["student"]["id"] == sid
    # a different code for the same student needs an explicit replace
    from PIL import Image
    import io
    buf = io.BytesIO()
    Image.fromarray(qr_frame("NEW-CODE-2")).save(buf, "JPEG", quality=92)
    r = c.post(API + "/qr", data=buf.getvalue(), content_type="image/jpeg")
    assert r.status_code == 409 and r.json["error"]["code"] == "code_exists"
    r = c.post(API + "/qr?replace=1", data=buf.getvalue(), content_type="image/jpeg")
    assert r.status_code == 200 and r.json["state"]["student"]["collect_code"] == "NEW-CODE-2"
    r = c.post(API + "/qr", data=frame_jpeg("noface"), content_type="image/jpeg")
    assert r.status_code == 422 and r.json["error"]["code"] == "no_qr"


def _open_review_item(s, sid: int) -> int:
    """An open identity review item for student ``sid`` (flushed); its id."""
    st = s.get(Student, sid)
    item = ReviewItem(term_id=st.term_id, kind="identity", student_id=sid, status="open")
    s.add(item)
    s.flush()
    return item.id


def test_call_from_review_queue_goes_first_and_closes_on_approval(station):
    app, w = station
    sid = w["studs"][2][0]
    with get_db(app).session() as s:
        item_id = _open_review_item(s, sid)
    c = _start(app.test_client())
    assert c.get(API + "/state").json["state"]["queue"][0]["id"] == w["studs"][0][0]
    page = c.get("/review/").get_data(as_text=True)
    assert f"/station/call/{item_id}" in page and "重拍 / 叫到工作站" in page
    r = c.post(f"/station/call/{item_id}", data={"next": "/review/?status=open"})
    assert r.status_code == 302 and r.location.endswith("/review/?status=open")
    queue = c.get(API + "/state").json["state"]["queue"]
    assert queue[0]["id"] == sid and "复核" in queue[0]["reason"]
    assert _audit(app, "station.call")[-1].detail["review_item"] == item_id
    assert "已在工作站叫号队列" in c.get("/review/").get_data(as_text=True)
    c.post(f"/station/call/{item_id}")      # twice: still one call
    st = c.post(API + "/next").json["state"]
    assert st["student"]["id"] == sid
    res = _capture(c, "pass")
    c.post(f"{API}/photos/{res['photo_id']}/approve", json={})
    with get_db(app).session() as s:
        calls = s.scalars(select(StationCall)).all()
        assert len(calls) == 1 and calls[0].done_photo_id == res["photo_id"]
    assert sid not in [q["id"] for q in c.get(API + "/state").json["state"]["queue"]]
    other = _start(app.test_client(), "op-weibin", station_name="渭滨1号")
    assert other.post(f"/station/call/{item_id}").status_code == 404


def test_self_report_students_are_called_before_the_rest_and_resolved_by_a_new_photo(station):
    app, w = station
    sid = w["studs"][1][0]
    with get_db(app).session() as s:
        st = s.get(Student, sid)
        s.add(ReviewItem(term_id=st.term_id, kind="self_report", student_id=sid, status="open", category="quality"))
    c = _start(app.test_client())
    q = c.get(API + "/state").json["state"]["queue"]
    assert q[0]["id"] == sid and q[0]["reason"] == "学生报告有误"
    c.post(API + "/next")
    res = _capture(c, "pass")
    c.post(f"{API}/photos/{res['photo_id']}/approve", json={})
    with get_db(app).session() as s:
        item = s.scalar(select(ReviewItem))
        assert item.status == "resolved" and "重拍并通过" in item.resolution


def test_hot_folder_file_becomes_the_capture(station, tmp_path):
    app, w = station
    folder = tmp_path / "drop"
    folder.mkdir()
    c = _start(app.test_client(), camera_kind="hotfolder", camera_value=str(folder))
    r = c.post(API + "/server-capture")
    assert r.status_code == 409 and r.json["error"]["code"] == "no_student"
    _select(c, w["studs"][0][0])
    assert c.post(API + "/server-capture").json == {"ok": True, "captured": False, "problems": []}
    (folder / "IMG_0001.JPG").write_bytes(frame_jpeg("pass"))
    deadline = time.monotonic() + 10
    while True:
        r = c.post(API + "/server-capture")
        if r.json.get("captured") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert r.json["captured"] and r.json["result"]["verdict"] == "pass"
    with get_db(app).session() as s:
        p = s.get(Photo, r.json["result"]["photo_id"])
        assert p.original_name == "IMG_0001.JPG" and p.original_sha256 == __import__("hashlib").sha256(frame_jpeg("pass")).hexdigest()
    assert _audit(app, "station.frame_received")[-1].detail["source"] == "hotfolder"
    # a file that is not a picture is set aside and reported, never captured
    (folder / "notes.jpg").write_bytes(b"this is not a photo")
    deadline = time.monotonic() + 10
    while not (r := c.post(API + "/server-capture")).json.get("problems") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert r.json["captured"] is False and r.json["problems"][-1]["name"] == "notes.jpg"
    assert (folder / "_errors" / "notes.jpg").exists()


def test_opencv_device_preview_guidance_and_capture(station, tmp_path):
    from capture import write_y4m

    app, w = station
    video = tmp_path / "camera.y4m"      # OpenCV (FFmpeg) plays it like a camera; no lossy codec
    write_y4m(video, [frame_rgb("pass")] * 3)
    c = _start(app.test_client(), camera_kind="opencv", camera_value=str(video))
    try:
        r = c.get(API + "/preview.jpg")
        assert r.status_code == 200 and r.mimetype == "image/jpeg" and r.data[:3] == b"\xff\xd8\xff"
        g = c.post(API + "/guide").json["hints"]
        assert g["face_found"] and g["capture_size"] == [1280, 720] and g["overlay"]["eye_band"]
        _select(c, w["studs"][0][0])
        res = c.post(API + "/server-capture").json["result"]
        assert res["verdict"] == "pass", res["problems"]
    finally:
        c.post("/station/end")


def test_guidance_for_a_posted_preview_frame(station):
    app, w = station
    c = _start(app.test_client())
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(frame_rgb("pass")).resize((640, 360)).save(buf, "JPEG", quality=80)
    r = c.post(API + "/guide", data=buf.getvalue(), content_type="image/jpeg", headers={"X-Capture-Size": "1280x720"})
    h = r.json["hints"]
    assert h["face_found"] and h["frame_size"] == [640, 360] and h["capture_size"] == [1280, 720]
    assert set(h["overlay"]) >= {"crown_band", "eye_band", "centre_line", "face_box"}
    small = io.BytesIO()
    Image.fromarray(frame_rgb("pass")).resize((320, 180)).save(small, "JPEG")
    h = c.post(API + "/guide", data=small.getvalue(), content_type="image/jpeg",
               headers={"X-Capture-Size": "320x180"}).json["hints"]
    assert "too_far" in [x["code"] for x in h["hints"]] and any("靠近" in t for t in h["text"])


def test_bad_input_gets_a_coded_chinese_answer(station):
    app, w = station
    c = app.test_client()
    r = c.get(API + "/state")
    assert r.status_code == 401 and r.json["error"]["code"] == "login_required"
    assert login(c, "op", "password-123").status_code == 302
    r = c.get(API + "/state")
    assert r.status_code == 409 and r.json["error"] == {"code": "no_session", "message": "请先开始采集场次"}
    r = c.post("/station/start", data={"term": "2027-07", "station_name": "", "camera_kind": "browser"})
    assert r.status_code == 302 and "new=1" in r.location
    assert "请填写工位名称" in c.get(r.location).get_data(as_text=True)
    r = c.post("/station/start", data={"term": "2027-07", "station_name": "x", "camera_kind": "hotfolder",
                                       "camera_value": "/no/such/folder"})
    assert "热文件夹不存在" in c.get(r.location).get_data(as_text=True)
    _start(c)
    r = c.post(API + "/capture", data=frame_jpeg("pass"), content_type="image/jpeg")
    assert r.status_code == 409 and r.json["error"]["code"] == "no_student"
    _select(c, w["studs"][0][0])
    for body, code in ((b"", "empty"), (b"GIF89a....", "bad_format")):
        r = c.post(API + "/capture", data=body, content_type="image/jpeg")
        assert r.status_code == 400 and r.json["error"]["code"] == code and r.json["error"]["message"]
    # JPEG magic but garbage: kept, refused by the normaliser with a reason
    res = c.post(API + "/capture", data=b"\xff\xd8\xff\xe0garbage", content_type="image/jpeg").json["result"]
    assert res["verdict"] == "unusable" and res["refusal"]["message"]
    r = c.post(API + "/guide", data=b"\xff\xd8\xff\xe0garbage", content_type="image/jpeg")
    assert r.status_code == 400 and r.json["error"]["code"] == "undecodable"
    for bad in ({"student_id": "abc"}, {"student_id": None}, {}):
        assert c.post(API + "/select", json=bad).status_code == 404
    assert c.post(API + "/select", data="not json", content_type="application/json").status_code == 404
    assert c.post(f"{API}/photos/999999/approve", json={}).json["error"]["code"] == "not_found"


def test_csrf_is_required_on_api_posts(db_backend, tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with get_db(app).session() as s:
        world(s)
    c = app.test_client()
    page = c.get("/login").get_data(as_text=True)
    from .conftest import csrf_from

    token = csrf_from(page)
    r = c.post("/login", data={"username": "op", "password": "password-123", "csrf_token": token})
    assert r.status_code == 302
    token = csrf_from(c.get("/station/").get_data(as_text=True))   # the login starts a new session
    r = c.post("/station/start", data={"term": "2027-07", "station_name": "1", "camera_kind": "browser",
                                       "csrf_token": token})
    assert r.status_code == 302
    with get_db(app).session() as s:
        sid = s.scalar(select(Student.id).order_by(Student.id))
    r = c.post(API + "/select", json={"student_id": sid})
    assert r.status_code == 400 and r.json["error"]["code"] == "csrf"
    r = c.post(API + "/select", json={"student_id": sid}, headers={"X-CSRFToken": token})
    assert r.status_code == 200


def test_session_page_renders_in_english(station):
    app, w = station
    c = _start(app.test_client())
    html = c.get("/station/session?lang=en").get_data(as_text=True)
    assert "Capture" in html and "Approve" in html and "Manual checklist" in html and "window.ST_TEXT" in html
    html = c.get("/station/session?lang=zh").get_data(as_text=True)
    assert "拍照" in html and "人工检查清单" in html and "无耳环、项链等饰物" in html


def test_a_crash_after_the_frame_arrived_loses_nothing(station, monkeypatch):
    import hashlib

    import capture.prepare

    app, w = station
    c = _start(app.test_client())
    _select(c, w["studs"][0][0])

    def boom(*a, **kw):
        raise RuntimeError("simulated crash in normalise")

    monkeypatch.setattr(capture.prepare, "prepare", boom)
    data = frame_jpeg("pass")
    r = c.post(API + "/capture", data=data, content_type="image/jpeg")
    assert r.status_code == 500 and r.json["error"]["code"] == "capture_failed" and "原始画面已保存" in r.json["error"]["message"]
    sha = hashlib.sha256(data).hexdigest()
    assert app.extensions["kiosk_store"].get(sha) == data
    assert _audit(app, "station.frame_received")[-1].photo_sha256 == sha
    assert _audit(app, "station.capture_failed")[-1].photo_sha256 == sha
    with get_db(app).session() as s:
        assert s.scalar(select(Photo.id)) is None
    monkeypatch.undo()
    assert _capture(c, "pass")["verdict"] == "pass"      # and the station carries on


WITHDRAWN_ZH = "该学生已从本期名单撤销，不采集；如有误请联系管理员恢复"


def _store_files(app) -> set[str]:
    root = app.extensions["kiosk_store"].root
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_withdrawn_student_is_found_and_shown_but_never_photographed(station):
    """Withdrawn from the roster after a capture: the operator still finds the student (the
    list and the card say so), but the server refuses to approve the waiting photo or to
    take another, records nothing for a refused capture, and leaves the student out of
    the progress counts and the call list."""
    from kiosk.services import sync

    app, w = station
    c = _start(app.test_client())
    sid, xh, name, _idn = w["studs"][2]
    _select(c, sid)
    res = _capture(c, "pass")                         # taken before the withdrawal
    with get_db(app).session() as s:
        assert sync.withdraw_student(s, s.get(Student, sid), actor="admin", reason="延期毕业")
    # found by 学号 and name, marked in the list
    for q in (xh, name):
        hits = c.get(API + "/students", query_string={"q": q}).json["students"]
        assert [(h["xh"], h["withdrawn"], h["withdrawn_label"]) for h in hits] == [(xh, True, "已撤销")], q
    others = c.get(API + "/students", query_string={"q": w["studs"][0][1]}).json["students"]
    assert [(h["withdrawn"], h["withdrawn_label"]) for h in others] == [(False, None)]
    # the card says why; the student is out of the counts and the call list
    st = c.get(API + "/state").json["state"]
    assert st["student"]["id"] == sid and st["student"]["withdrawn"] is True
    assert st["student"]["withdrawn_note"] == WITHDRAWN_ZH and st["student"]["withdrawn_at"].endswith("Z")
    assert st["progress"]["total"] == 2 and st["progress"]["remaining"] == 2 and st["progress"]["captured"] == 0
    assert sid not in [q["id"] for q in st["queue"]] and len(st["queue"]) == 2
    # the photo waiting from before cannot be approved, not even by an administrator
    r = c.post(f"{API}/photos/{res['photo_id']}/approve", json={"checklist": []})
    assert r.status_code == 409
    assert r.json == {"ok": False, "error": {"code": "student_withdrawn", "message": WITHDRAWN_ZH}}
    r = c.post(f"{API}/photos/{res['photo_id']}/override",
               json={"username": "boss", "password": "password-123", "reason": "管理员坚持要批准"})
    assert (r.status_code, r.json["error"]["code"]) == (409, "student_withdrawn")
    refused = _audit(app, "station.approve_refused")
    assert [(e.actor, e.detail["code"], e.detail.get("override")) for e in refused] == [
        ("op", "student_withdrawn", None), ("op", "student_withdrawn", True)]
    assert all(e.photo_sha256 == res["sha256"] and e.detail["xh"] == xh for e in refused)
    assert _audit(app, "photo.approve") == [] and _audit(app, "station.override_denied") == []
    with get_db(app).session() as s:
        assert photos.approved_photo(s, sid) is None and s.get(Photo, res["photo_id"]).status in photos.DECIDABLE
    # the operator can set it aside (retake), but not take another one
    assert c.post(f"{API}/photos/{res['photo_id']}/retake").status_code == 200
    files_before, received_before = _store_files(app), len(_audit(app, "station.frame_received"))
    r = c.post(API + "/capture", data=frame_jpeg("pass"), content_type="image/jpeg")
    assert r.status_code == 409
    assert r.json == {"ok": False, "error": {"code": "student_withdrawn", "message": WITHDRAWN_ZH}}
    assert _store_files(app) == files_before and len(_audit(app, "station.frame_received")) == received_before
    with get_db(app).session() as s:
        assert [p.id for p in s.scalars(select(Photo).where(Photo.student_id == sid))] == [res["photo_id"]]
    # selecting again works (the card shows the note); English through the i18n table
    assert _select(c, w["studs"][0][0])["student"]["withdrawn"] is False
    assert _select(c, sid)["student"]["withdrawn"] is True
    r = c.post(API + "/capture?lang=en", data=frame_jpeg("pass"), content_type="image/jpeg")
    assert r.json["error"]["code"] == "student_withdrawn" and r.json["error"]["message"].startswith(
        "This student was withdrawn from this term's roster")
    assert c.get(API + "/state").json["state"]["student"]["withdrawn_note"].startswith("This student was withdrawn")
    # another student is photographed as before
    c.get(API + "/state?lang=zh")
    _select(c, w["studs"][0][0])
    assert _capture(c, "pass")["decidable"]


def test_withdrawn_student_hot_folder_file_waits_and_qr_code_is_not_stored(station, tmp_path):
    """A tethered camera's file is not taken for a withdrawn student (it waits for the
    next student); scanning their QR code still finds them, a new code is not stored."""
    from kiosk.services import sync

    app, w = station
    folder = tmp_path / "drop"
    folder.mkdir()
    c = _start(app.test_client(), camera_kind="hotfolder", camera_value=str(folder))
    gone, nxt = w["studs"][1][0], w["studs"][0][0]
    _select(c, nxt)
    assert c.post(API + "/server-capture").json["captured"] is False          # the folder is watched
    with get_db(app).session() as s:
        sync.withdraw_student(s, s.get(Student, gone), actor="admin", reason="退学")
    _select(c, gone)
    (folder / "IMG_0002.JPG").write_bytes(frame_jpeg("pass"))
    time.sleep(0.3)                                                           # past the settle time
    r = c.post(API + "/server-capture")
    assert (r.status_code, r.json["error"]["code"]) == (409, "student_withdrawn")
    r = c.post(API + "/qr", data=frame_jpeg("qr"), content_type="image/jpeg")
    assert (r.status_code, r.json["error"]["code"]) == (409, "student_withdrawn")
    with get_db(app).session() as s:
        assert s.get(Student, gone).collect_code is None and s.scalar(select(Photo)) is None
    _select(c, nxt)
    deadline = time.monotonic() + 10
    while not (r := c.post(API + "/server-capture")).json.get("captured") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert r.json["captured"] and r.json["state"]["student"]["id"] == nxt
    with get_db(app).session() as s:
        assert s.get(Photo, r.json["result"]["photo_id"]).original_name == "IMG_0002.JPG"


def test_withdrawn_student_is_not_called_from_the_review_queue(station):
    from kiosk.services import sync

    app, w = station
    sid = w["studs"][2][0]
    with get_db(app).session() as s:
        item_id = _open_review_item(s, sid)
        sync.withdraw_student(s, s.get(Student, sid), actor="admin", reason="退学")
    c = _start(app.test_client())
    r = c.post(f"/station/call/{item_id}", data={"next": "/review/?status=open"}, follow_redirects=True)
    assert "该学生已从本期名单撤销，不采集" in r.get_data(as_text=True)
    with get_db(app).session() as s:
        assert s.scalar(select(StationCall)) is None
    assert _audit(app, "station.call") == []
    assert c.post(API + "/next").json["state"]["student"]["id"] != sid


def test_a_preview_that_races_the_end_of_its_session_does_not_reopen_the_camera(station, tmp_path):
    """The preview request read the open session, then the session ended: the camera
    stays closed and the request gets the no-session answer."""
    from capture import write_y4m
    from kiosk.web.station.runtime import get_runtime

    app, _w = station
    video = tmp_path / "camera.y4m"
    write_y4m(video, [frame_rgb("pass")] * 3)
    c = _start(app.test_client(), camera_kind="opencv", camera_value=str(video))
    try:
        assert c.get(API + "/preview.jpg").status_code == 200
        rt = get_runtime(app)
        (sid,) = list(rt._cameras)
        rt.forget(sid)                # what /station/end does right after its commit
        r = c.get(API + "/preview.jpg")
        assert r.status_code == 409 and r.json["error"]["code"] == "no_session", r.json
        assert sid not in rt._cameras
    finally:
        c.post("/station/end")
