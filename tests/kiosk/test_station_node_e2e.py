"""End to end with two real servers as subprocesses, each with its own database and store:
20 students captured and approved on a station node while the central server is down,
then synced — with the node killed (-9) in the middle of the sync, twice.  The central
database, store and audit log hold exactly those 20 approvals, nothing twice."""
from __future__ import annotations

import io
import json
import os
import time
from functools import lru_cache

import pytest
from PIL import Image
from sqlalchemy import func, select, text

from kiosk import create_app
from kiosk.db import get_db
from kiosk.models import AuditEntry, Photo, QCReport, ReviewItem, Student, SyncOutbox, SyncReceipt
from tests.conftest import CORPUS

from .factories import setup_term, user
from .nodeproc import Browserless, Proc, free_port, run_cli
from .stationdata import PORTRAIT

pytestmark = pytest.mark.usefixtures("corpus_dir")

N = 20
API = "/api/v1/station"


@lru_cache(maxsize=None)
def frame(i: int) -> bytes:
    """A webcam frame of the real portrait, framed a little differently for each student
    (20 different files, all passing QC)."""
    from tests.qc.fixtures import camera_frame

    rgb = camera_frame(CORPUS / "images" / PORTRAIT, face_width=238.0 + 0.7 * i, crown_y=102.0 + (i % 4) * 3)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _central_count(engine, sql):
    with engine.connect() as con:
        return con.execute(text(sql)).scalar_one()


def _wait(pred, timeout=90.0, step=0.05, what=""):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def test_offline_capture_of_20_then_sync_survives_kill_9_twice(tmp_path, db_backend):
    """The central server on the test's database (SQLite or PostgreSQL); the node always
    on its own SQLite file."""
    cinst, ninst = tmp_path / "central", tmp_path / "node"
    capp = create_app({"INSTANCE_PATH": str(cinst)})
    central_env = {"KIOSK_DATABASE_URL": os.environ["KIOSK_DATABASE_URL"]} if db_backend == "pg" else {}
    cdb = get_db(capp)
    cdb.upgrade()
    with cdb.session() as s:
        term, centre, studs = setup_term(s, n=N)
        setup_term(s, n=2, centre="渭滨学习中心", branch="宝鸡分部", start=100)
        user(s, "op", org_unit_id=centre.id)
        xhs = [x.xh for x in studs]
    cdb.engine.dispose()
    r = run_cli(cinst, "station-token", "create", "--term", "2027-07", "--unit", "雁塔学习中心", "--name", "一号机",
                "--json", **central_env)
    assert r.returncode == 0, r.stderr
    token = json.loads(r.stdout)["token"]
    assert token.startswith("kst_")

    cport, nport = free_port(), free_port()
    central = Proc(cinst, ["serve"], cport, tmp_path / "central.log", **central_env).start()
    node = Proc(ninst, ["station-node", "--server", central.url, "--term", "2027-07", "--unit", "雁塔学习中心",
                        "--name", "一号机", "--sync-interval", "0.3", "--max-backoff", "1"], nport, tmp_path / "node.log",
                KIOSK_NODE_TOKEN=token, KIOSK_NODE_SYNC_BATCH="4")
    try:
        node.start()
        assert "已连接中心服务器：名单 20 人" in node.log()
        # ---- the link drops: capture and approve 20 students on the node
        central.stop()
        op = Browserless(node.url)
        op.login("op", "password-123")             # the operator's account came with the roster
        op.start()
        approved: dict[str, tuple[str, str]] = {}
        for i, xh in enumerate(xhs):
            found = op.get(API + "/students?q=" + xh)["students"]
            assert [x["xh"] for x in found] == [xh]
            assert op.post(API + "/select", {"student_id": found[0]["id"]})["status"] == 200
            res = op.post(API + "/capture", raw=frame(i), ctype="image/jpeg")
            assert res["status"] == 200 and res["result"]["verdict"] == "pass", res
            ok = op.post(f"{API}/photos/{res['result']['photo_id']}/approve", {"checklist": []})
            assert ok["status"] == 200 and ok["approved"]["status"] == "approved", ok
            approved[xh] = (ok["approved"]["sha256"], ok["approved"]["original_sha256"])
        assert len({v[0] for v in approved.values()}) == N
        st = _wait(lambda: (lambda j: j if j["online"] is False else None)(op.get("/api/v1/node/status")),
                   what="offline status")
        assert st["waiting_approvals"] == N and st["waiting_photos"] == N and st["last_error"]["code"] == "offline"
        # the station's computer is restarted while still offline: it starts, and keeps it all
        node.stop()
        node.start()
        assert "中心服务器暂不可达" in node.log()
        op = Browserless(node.url)
        op.login("op", "password-123")
        st = op.get("/api/v1/node/status")
        assert st["waiting_approvals"] == N and st["waiting_photos"] == N

        # ---- the server is back; the node is killed in the middle of the sync, twice
        def receipts(kind=None):
            return _central_count(cdb.engine, "select count(*) from sync_receipts"
                                  + (f" where kind='{kind}'" if kind else ""))

        central.start()
        _wait(lambda: receipts("approve") >= 3, what="first approvals arriving")
        node.kill9()
        first = receipts("approve")
        cut1 = receipts()
        node.start()                                # the sync picks up where it was cut
        _wait(lambda: receipts() >= cut1 + 10, what="more entries after the restart")
        node.kill9()
        second = receipts("approve")
        cut2 = receipts()
        node.start()
        op = Browserless(node.url)
        op.login("op", "password-123")
        st = _wait(lambda: (lambda j: j if j["waiting"] == 0 and j["online"] else None)(op.get("/api/v1/node/status")),
                   what="outbox empty")
        assert st["refused"] == 0 and st["last_sync_at"] and st["server_pending"] == 0
    finally:
        node.stop()
        central.stop()

    # ---- the central server holds exactly those 20 approvals, nothing twice
    with cdb.session() as s:
        rows = s.execute(select(Photo.sha256, Photo.original_sha256, Photo.student_id, Photo.status)).all()
        assert len(rows) == N                                       # 20 captures, none twice
        by_id = dict(s.execute(select(Student.id, Student.xh)).all())
        assert {by_id[sid]: (sha, orig) for sha, orig, sid, status in rows if status == "approved"} == approved
        appr = s.scalars(select(AuditEntry).where(AuditEntry.action == "photo.approve")).all()
        assert sorted(e.photo_sha256 for e in appr) == sorted(v[0] for v in approved.values())
        assert {e.actor for e in appr} == {"op"} and {e.station for e in appr} == {"1号机位"}
        assert s.scalar(select(func.count()).where(AuditEntry.action == "node.photo.approve")) == N
        assert s.scalar(select(func.count()).where(AuditEntry.action == "photo.capture")) == N
        # QC ran again here (one report per photo) and so did the duplicate search: the 20
        # frames are one photograph re-framed, so it shows up under 20 学号 in the review queue
        assert s.scalar(select(func.count()).select_from(QCReport)) == N
        assert s.scalar(select(func.count()).select_from(ReviewItem).where(
            ReviewItem.kind.in_(("duplicate_face", "duplicate_file")))) >= N - 1
        receipts = s.scalar(select(func.count()).select_from(SyncReceipt))
        node_entries = s.scalar(select(func.count()).where(AuditEntry.action.like("node.%")))
        assert receipts == node_entries                      # every node entry kept once
    store = capp.extensions["kiosk_store"]
    for sha, orig in approved.values():
        assert store.verify(sha) and store.verify(orig)
    napp = create_app({"INSTANCE_PATH": str(ninst), "DATABASE_URL": f"sqlite:///{ninst / 'kiosk.sqlite3'}"})
    with get_db(napp).session() as s:
        sent = s.scalar(select(func.count()).select_from(SyncOutbox).where(SyncOutbox.status == "sent"))
        total = s.scalar(select(func.count()).select_from(SyncOutbox))
        audits = s.scalar(select(func.count()).select_from(AuditEntry))
    assert sent == total == receipts and total <= audits
    print(f"central when killed: {first} then {second} of {N} approvals, {cut1} then {cut2} of {total} entries")
    assert first < N and cut1 < cut2 < total            # both kills cut a sync in the middle
