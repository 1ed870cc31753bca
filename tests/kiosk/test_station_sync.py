"""Station node ↔ central server sync, in one process: the central server is a real HTTP
server (LiveServer thread), the node an app with its own database and store that pulls,
captures through the station API and pushes.  Idempotent pushes, conflict rules, and
bad input (tampered file, wrong/revoked token, students outside the token's unit)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kiosk.db import get_db
from kiosk.models import AuditEntry, Photo, ReviewItem, Student, SyncOutbox, SyncReceipt
from kiosk.services import node, photos, sync
from tests.browser import LiveServer

from .conftest import login, make_app
from .stationdata import frame_jpeg, world

pytestmark = pytest.mark.usefixtures("corpus_dir")

API = "/api/v1/station"


@pytest.fixture
def central(db_backend, tmp_path):
    """The central server on the test's database (SQLite, then PostgreSQL); the node is
    always on its own SQLite file."""
    app = make_app(tmp_path / "central")
    with get_db(app).session() as s:
        w = world(s, app.extensions["kiosk_store"], reference=True)
    with LiveServer(app) as srv:
        yield app, w, srv


def _token(app, unit_id, name="node"):
    from kiosk.models import OrgUnit, Term

    with get_db(app).session() as s:
        term = s.scalar(select(Term))
        _row, tok = sync.create_token(s, term, s.get(OrgUnit, unit_id), name=name, actor="test")
    return tok


def _node(tmp_path, srv, token, unit="雁塔学习中心", name="n1"):
    app = make_app(tmp_path / name, DATABASE_URL=f"sqlite:///{tmp_path / name / 'instance' / 'kiosk.sqlite3'}",
                   NODE_SERVER=srv.url, NODE_TERM="2027-07", NODE_UNIT=unit, NODE_TOKEN=token,
                   NODE_NAME=name)
    node.sync_once(app, force_pull=True)
    return app


def _station(app, username="op", station="1号机位"):
    c = app.test_client()
    assert login(c, username, "password-123").status_code == 302
    r = c.post("/station/start", data={"term": "2027-07", "place": "图书馆", "station_name": station,
                                       "camera_kind": "browser"})
    assert r.status_code == 302, r.data
    return c


def _student_id(c, xh):
    r = c.get(API + "/students", query_string={"q": xh})
    return r.json["students"][0]["id"]


def _capture_approve(c, xh, approve=True, quality=92):
    assert c.post(API + "/select", json={"student_id": _student_id(c, xh)}).status_code == 200
    r = c.post(API + "/capture", data=frame_jpeg("pass", quality), content_type="image/jpeg")
    res = r.json["result"]
    assert res["verdict"] == "pass", res
    if approve:
        assert c.post(f"{API}/photos/{res['photo_id']}/approve", json={}).status_code == 200
    return res


def _count(app, model, *cond):
    with get_db(app).session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*cond))


def _audit(app, action):
    with get_db(app).session() as s:
        return s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def test_pull_capture_push_and_pushing_again_records_nothing_twice(tmp_path, central):
    capp, w, srv = central
    napp = _node(tmp_path, srv, _token(capp, w["yanta"]))
    # the node holds the unit's roster (not the other unit's), the reference photo, the operator
    with get_db(napp).session() as s:
        assert sorted(s.scalars(select(Student.xh))) == sorted(x[1] for x in w["studs"])
        ref = s.scalar(select(Student).where(Student.xh == w["studs"][0][1]))
        assert ref.reference_sha256 and napp.extensions["kiosk_store"].exists(ref.reference_sha256)
    c = _station(napp)
    a = _capture_approve(c, w["studs"][0][1])
    b = _capture_approve(c, w["studs"][1][1])
    st = c.get("/api/v1/node/status").json
    assert st["node"] and st["waiting"] > 0 and st["waiting_approvals"] == 2 and st["waiting_photos"] == 2
    node.sync_once(napp)
    st = c.get("/api/v1/node/status").json
    assert st["waiting"] == 0 and st["refused"] == 0 and st["online"] is True and st["last_sync_at"]
    with get_db(capp).session() as s:
        got = {p.student.xh: p for p in s.scalars(select(Photo).where(Photo.status == "approved"))}
        assert {x: p.sha256 for x, p in got.items()} == {w["studs"][0][1]: a["sha256"], w["studs"][1][1]: b["sha256"]}
        assert got[w["studs"][0][1]].original_sha256 == a["original_sha256"]
        assert got[w["studs"][0][1]].station.name == "1号机位" and got[w["studs"][0][1]].reports  # QC ran here
    store = capp.extensions["kiosk_store"]
    assert store.verify(a["sha256"]) and store.verify(a["original_sha256"])
    approvals = _audit(capp, "photo.approve")
    assert sorted(e.photo_sha256 for e in approvals) == sorted([a["sha256"], b["sha256"]])
    assert {e.actor for e in approvals} == {"op"} and len(_audit(capp, "node.photo.approve")) == 2
    node_caps = _audit(capp, "node.photo.capture")        # the node's QC reports are kept with its entries
    assert [e.detail["node_qc_report"]["verdict"] for e in node_caps] == ["pass", "pass"]
    assert {c["check"] for c in node_caps[0].detail["node_qc_report"]["checks"]} >= {"sharpness", "dimensions"}
    receipts = _count(capp, SyncReceipt)
    audit_rows = _count(capp, AuditEntry)
    # an operator deactivated on the server can no longer log in at the node after the next pull
    from kiosk.models import User

    first = node.sync_once(napp, force_pull=True)["pull"]          # the server now has 2 approved
    assert "unchanged" not in first and first["server_approved"] == 2
    assert node.sync_once(napp, force_pull=True)["pull"].get("unchanged") is True   # nothing new: not sent again
    with get_db(capp).session() as s:
        s.scalar(select(User).where(User.username == "op")).active = False
    assert "unchanged" not in node.sync_once(napp, force_pull=True)["pull"]
    assert _count(napp, User, User.username == "op", User.active.is_(True)) == 0
    assert login(napp.test_client(), "op", "password-123").status_code != 302
    node.sync_once(napp)                        # the refused login is on the node's record too
    receipts = _count(capp, SyncReceipt)
    audit_rows = _count(capp, AuditEntry)
    # push everything again (as after a crash between the server's commit and the node's)
    with get_db(napp).session() as s:
        for r in s.scalars(select(SyncOutbox)):
            r.status = "waiting"
    out = node.sync_once(napp)
    assert out["push"]["sent"] > 0
    assert _count(capp, SyncReceipt) == receipts and _count(capp, AuditEntry) == audit_rows
    assert _count(capp, Photo) == 2


def test_tampered_photo_in_the_outbox_is_refused_audited_and_nothing_recorded(tmp_path, central):
    capp, w, srv = central
    napp = _node(tmp_path, srv, _token(capp, w["yanta"]))
    c = _station(napp)
    res = _capture_approve(c, w["studs"][0][1])
    path = napp.extensions["kiosk_store"].path_for(res["sha256"])
    path.write_bytes(path.read_bytes()[:-200] + b"\x00" * 200)  # someone edited the photo on the station's disk
    node.sync_once(napp)
    st = c.get("/api/v1/node/status").json
    assert st["refused"] >= 2 and st["waiting"] == 0       # the capture and its approval are set aside
    codes = {r["code"] for r in st["refused_items"]}
    assert "hash_mismatch" in codes and "unknown_photo" in codes
    refused = _audit(capp, "sync.refused")
    assert "hash_mismatch" in {e.detail["code"] for e in refused}
    assert _count(capp, Photo) == 0 and _count(capp, SyncReceipt, SyncReceipt.kind == "photo") == 0
    assert not capp.extensions["kiosk_store"].exists(res["sha256"])
    assert _audit(capp, "photo.approve") == []


def test_wrong_and_revoked_tokens_are_refused_and_audited(tmp_path, central):
    capp, w, srv = central
    tok = _token(capp, w["yanta"])
    napp = _node(tmp_path, srv, tok)
    before = _count(capp, SyncReceipt)          # the node's first sync (its roster-pull entry)
    c = _station(napp)
    _capture_approve(c, w["studs"][0][1])
    cc = capp.test_client()
    for header, code in ((None, "token_required"), ("Bearer kst_nope", "bad_token")):
        r = cc.post("/api/v1/sync/push", json={"node_id": "x", "station": "s", "entries": []},
                    headers={"Authorization": header} if header else {})
        assert r.status_code == 401 and r.json == {"ok": False, "error": {"code": code, "message": r.json["error"]["message"]}}
    with get_db(capp).session() as s:
        sync.revoke_token(s, sync.find_token(s, tok[:12]), actor="test")
    with pytest.raises(node.Refused) as ei:
        node.sync_once(napp)
    assert ei.value.code == "token_revoked"
    st = c.get("/api/v1/node/status").json
    assert st["last_error"]["code"] == "token_revoked" and st["waiting"] > 0   # kept for a new token
    codes = [e.detail["code"] for e in _audit(capp, "sync.refused")]
    assert codes.count("token_required") == 1 and codes.count("bad_token") == 1 and "token_revoked" in codes
    assert _count(capp, Photo) == 0 and _count(capp, SyncReceipt) == before


def test_students_outside_the_tokens_unit_are_refused(tmp_path, central):
    capp, w, srv = central
    tok_weibin = _token(capp, w["weibin"], "渭滨")
    napp = _node(tmp_path, srv, tok_weibin, unit="渭滨学习中心")
    c = _station(napp, "op-weibin")
    _capture_approve(c, w["others"][0][1])
    # the same node, now (mis)configured with the 雁塔 token, pushes its 渭滨 captures
    napp.config["NODE_TOKEN"] = _token(capp, w["yanta"])
    node.push(napp, node.Client(srv.url, napp.config["NODE_TOKEN"]))
    st = c.get("/api/v1/node/status").json
    assert "out_of_scope" in {r["code"] for r in st["refused_items"]}
    refused = [e for e in _audit(capp, "sync.refused") if e.detail["code"] == "out_of_scope"]
    assert refused and w["others"][0][1] in refused[0].detail["message"]
    assert _count(capp, Photo) == 0 and _count(capp, SyncReceipt, SyncReceipt.kind == "photo") == 0
    # a node set up for another unit than its token's refuses to start syncing
    with pytest.raises(node.Refused) as ei:
        _node(tmp_path, srv, _token(capp, w["yanta"]), unit="渭滨学习中心", name="n2")
    assert ei.value.code == "scope_mismatch"


def test_conflicts_two_stations_and_withdrawn_student_are_kept_for_review(tmp_path, central):
    capp, w, srv = central
    n1 = _node(tmp_path, srv, _token(capp, w["yanta"], "一号"), name="n1")
    n2 = _node(tmp_path, srv, _token(capp, w["yanta"], "二号"), name="n2")
    xh = w["studs"][1][1]
    gone = w["studs"][2][1]
    with get_db(capp).session() as s:          # withdrawn centrally while the stations are offline
        sync.withdraw_student(s, s.scalar(select(Student).where(Student.xh == gone)), actor="test", reason="退学")
    a = _capture_approve(_station(n1, station="一号机位"), xh)
    c2 = _station(n2, station="二号机位")
    b = _capture_approve(c2, xh, quality=85)      # another camera, another file
    assert b["sha256"] != a["sha256"]
    g = _capture_approve(c2, gone, quality=80)
    node.sync_once(n1)
    node.sync_once(n2)
    with get_db(capp).session() as s:
        ps = {p.sha256: p for p in s.scalars(select(Photo).join(Student).where(Student.xh == xh))}
        assert ps[a["sha256"]].status == "approved" and ps[b["sha256"]].status == "pending"   # both kept
        items = s.scalars(select(ReviewItem).where(ReviewItem.kind == "sync_conflict")).all()
        two = [i for i in items if i.category == "two_stations"]
        assert len(two) == 1 and two[0].photo_id == ps[b["sha256"]].id and two[0].other_photo_id == ps[a["sha256"]].id
        assert "两张均保留" in two[0].comment
        gp = s.scalar(select(Photo).where(Photo.sha256 == g["sha256"]))
        assert gp.status == "pending" and photos.approved_photo(s, gp.student_id) is None
        assert [i.category for i in items if i.student_id == gp.student_id] == ["withdrawn"]
    st = c2.get("/api/v1/node/status").json
    assert st["server_pending"] == 2      # the node learns that two of its approvals wait for review
    # the review queue shows them to an admin
    adm = capp.test_client()
    login(adm, "boss", "password-123")
    page = adm.get("/review/?kind=sync_conflict").get_data(as_text=True)
    assert "离线工位同步冲突" in page and xh in page and "两个工位都批准了该学生" in page and "两张均保留" in page
    assert "学生已在名单中撤销" in page and 'class="inline sync-decide"' in page
    with get_db(capp).session() as s:
        ids = {i.category: i.id for i in s.scalars(select(ReviewItem).where(ReviewItem.kind == "sync_conflict"))}
    # the admin picks the second station's photo, and drops the withdrawn student's
    r = adm.post(f"/review/sync-conflicts/{ids['two_stations']}/decide", data={"decision": "use_node", "note": ""})
    assert r.status_code == 302                                       # refused: a note is required
    adm.post(f"/review/sync-conflicts/{ids['two_stations']}/decide",
             data={"decision": "use_node", "note": "二号机位的照片更清楚"})
    adm.post(f"/review/sync-conflicts/{ids['withdrawn']}/decide", data={"decision": "keep_server", "note": "已退学"})
    with get_db(capp).session() as s:
        ps = {p.sha256: p.status for p in s.scalars(select(Photo).join(Student).where(Student.xh == xh))}
        assert ps == {a["sha256"]: "superseded", b["sha256"]: "approved"}        # both still on record
        assert s.scalar(select(Photo).where(Photo.sha256 == g["sha256"])).status == "rejected"
        assert {i.status for i in s.scalars(select(ReviewItem).where(ReviewItem.kind == "sync_conflict"))} == {"resolved"}
    decided = [e.detail["decision"] for e in _audit(capp, "review.resolve") if e.detail.get("decision")]
    assert sorted(decided) == ["keep_server", "use_node"]


def test_sync_api_refuses_malformed_requests_with_codes(tmp_path, central):
    capp, w, _srv = central
    tok = _token(capp, w["yanta"])
    cc = capp.test_client()
    auth = {"Authorization": f"Bearer {tok}"}
    data = frame_jpeg("pass")
    from kiosk.store import sha256_hex

    wrong = "0" * 64
    r = cc.put(f"/api/v1/sync/blobs/{wrong}", data=data, headers=auth)
    assert r.status_code == 422 and r.json["error"]["code"] == "hash_mismatch"
    assert not capp.extensions["kiosk_store"].exists(wrong)
    assert not capp.extensions["kiosk_store"].exists(sha256_hex(data))
    r = cc.get(f"/api/v1/sync/blobs/{sha256_hex(data)}", headers=auth)   # only the unit's reference photos
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    r = cc.post("/api/v1/sync/push", data="not json", headers=auth, content_type="application/json")
    assert r.status_code == 400 and r.json["error"]["code"] == "bad_request"
    r = cc.post("/api/v1/sync/push", headers=auth, json={"node_id": "abc", "station": "s", "entries": [
        {"entry_id": "other:1", "kind": "audit", "payload": {}}]})
    assert r.status_code == 422 and r.json["error"] == {"code": "bad_entry", "message": "同步条目格式不正确",
                                                         "entry_id": "other:1"}
    # a node's audit detail cannot pose as the entry's own fields; the entry is kept once
    body = {"node_id": "abc", "station": "s", "entries": [{"entry_id": "abc:1", "kind": "audit", "payload": {
        "audit": {"action": "station.session_start", "actor": "op", "at": "2026-12-01T08:00:00Z", "station": "s",
                  "detail": {"ip": "6.6.6.6", "station": "forged", "term": "2027-07"}}}}]}
    for dup in (False, True):
        r = cc.post("/api/v1/sync/push", headers=auth, json=body)
        assert r.status_code == 200 and r.json["results"] == [{"entry_id": "abc:1", "outcome": "recorded",
                                                               "duplicate": dup}]
    kept = _audit(capp, "node.station.session_start")
    assert len(kept) == 1 and kept[0].station == "s" and kept[0].detail["node_ip"] == "6.6.6.6"
    assert kept[0].at.isoformat() == "2026-12-01T08:00:00"
    codes = [e.detail["code"] for e in _audit(capp, "sync.refused")]
    assert codes == ["hash_mismatch", "not_found", "bad_request", "bad_entry"]


def test_station_token_cli_create_list_revoke_and_roster_withdraw(tmp_path, monkeypatch, db_backend):
    import json

    from click.testing import CliRunner

    from kiosk.cli import main

    app = make_app(tmp_path)
    with get_db(app).session() as s:
        w = world(s)
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    run = CliRunner()
    r = run.invoke(main, ["station-token", "create", "--term", "2027-07", "--unit", "雁塔学习中心", "--json"])
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    assert made["token"].startswith("kst_") and made["unit"] == "雁塔学习中心"
    r = run.invoke(main, ["station-token", "create", "--term", "2027-07", "--unit", "火星学习中心"])
    assert r.exit_code == 2 and "错误 [unit]" in r.output
    r = run.invoke(main, ["station-token", "list", "--json"])
    listed = json.loads(r.output)["tokens"]
    assert [(t["prefix"], t["revoked"]) for t in listed] == [(made["prefix"], False)]
    assert made["token"] not in r.output
    with get_db(app).session() as s:
        row = sync.find_token(s, made["prefix"])
        assert row.token_hash == sync.token_hash(made["token"]) and made["token"] not in str(row.__dict__)
    r = run.invoke(main, ["station-token", "revoke", made["prefix"]])
    assert r.exit_code == 0 and "已吊销" in r.output
    with get_db(app).session() as s:
        with pytest.raises(sync.SyncError) as ei:
            sync.authenticate(s, f"Bearer {made['token']}")
    assert ei.value.code == "token_revoked"
    assert [e.action for e in _audit(app, "station_token.create") + _audit(app, "station_token.revoke")] == [
        "station_token.create", "station_token.revoke"]
    r = run.invoke(main, ["roster", "withdraw", w["studs"][0][1], "--term", "2027-07", "--reason", "退学"])
    assert r.exit_code == 0 and "已撤销" in r.output
    with get_db(app).session() as s:
        assert s.scalar(select(Student).where(Student.xh == w["studs"][0][1])).withdrawn_at is not None


def test_admin_page_creates_shows_once_and_revokes_tokens(tmp_path, db_backend):
    import re

    app = make_app(tmp_path)
    with get_db(app).session() as s:
        w = world(s)
    c = app.test_client()
    assert login(c, "op", "password-123").status_code == 302
    assert c.get("/admin/station-tokens/").status_code in (302, 403)        # operators may not
    c = app.test_client()
    login(c, "boss", "password-123")
    r = c.post("/admin/station-tokens/", data={"term": "2027-07", "unit_id": w["yanta"], "name": "图书馆一号机"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store" and "令牌只显示这一次" in html
    token = re.search(r'<pre id="new-token">(kst_[^<]+)</pre>', html).group(1)
    listing = c.get("/admin/station-tokens/").get_data(as_text=True)
    assert token not in listing and token[:12] in listing and "图书馆一号机" in listing
    with get_db(app).session() as s:
        row = sync.authenticate(s, f"Bearer {token}")
        assert row.org_unit_id == w["yanta"] and row.created_by == "boss"
        rid = row.id
    assert c.post(f"/admin/station-tokens/{rid}/revoke").status_code == 302
    with get_db(app).session() as s:
        with pytest.raises(sync.SyncError):
            sync.authenticate(s, f"Bearer {token}")
    acts = [(e.action, e.actor) for e in _audit(app, "station_token.create") + _audit(app, "station_token.revoke")]
    assert acts == [("station_token.create", "boss"), ("station_token.revoke", "boss")]


def test_begin_snapshot_holds_one_state_across_reads(tmp_path, db_backend):
    """The node's status reads several counts; a commit between two of them must not show
    (it counted entries the sync thread moved to the outbox twice: 23 approvals for 20)."""
    from sqlalchemy import func

    from kiosk.db import begin_snapshot
    from kiosk.models import AuditEntry
    from kiosk.services import audit

    app = make_app(tmp_path)
    d = get_db(app)
    reader, writer = d.sessionmaker(), d.sessionmaker()
    try:
        begin_snapshot(reader)
        before = reader.scalar(select(func.count()).select_from(AuditEntry))
        audit.record(writer, "test.event", actor="test")
        writer.commit()
        again = reader.scalar(select(func.count()).select_from(AuditEntry))
        if d.engine.dialect.name == "sqlite":
            assert again == before                       # one snapshot until the transaction ends
        reader.rollback()
        assert reader.scalar(select(func.count()).select_from(AuditEntry)) == before + 1
    finally:
        reader.close()
        writer.close()
