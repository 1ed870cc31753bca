"""Station-node sync benchmark: how long the backlog of an offline session takes to reach
the central server, against how long it took to capture.

Run: ``.venv/bin/python bench/sync_bench.py [--students N] [--batch B] [--json OUT]``

Both servers run in this process with their own SQLite databases and photo stores: the
central server as a real HTTP server (werkzeug, a thread), the node as an app whose
station API is driven like the page drives it.  Timed:

* **capture** — per student on the node: select, ``POST /capture`` (normalise + QC on the
  node), approve (with the node's own identity/duplicate hooks);
* **sync** — one ``sync_once`` after the captures: files (original + spec photo) checked
  and stored on the server, every outbox entry pushed and applied once — QC run again on
  the server, photo recorded, approval with the server's identity and duplicate checks,
  the node's audit entries kept;
* **again** — the same backlog pushed a second time (all duplicates: nothing recorded).

Prints per-student times (totals over the run divided by N; the work is sequential), entries per second, and
the ratio sync / capture.  Frames are a real portrait (frll_009) framed differently per
student, so every file differs.
"""
from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _frames(n: int) -> list[bytes]:
    from PIL import Image

    from tests.conftest import CORPUS, corpus_available
    from tests.qc.fixtures import camera_frame

    if not corpus_available():
        sys.exit("corpus not found (set KIOSK_CORPUS)")
    out = []
    for i in range(n):
        rgb = camera_frame(CORPUS / "images" / "frll_009_neutral_front.jpg", face_width=238.0 + 0.7 * (i % 20),
                           crown_y=102.0 + (i % 4) * 3)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=90 - i // 20)
        out.append(buf.getvalue())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    from sqlalchemy import func, select

    from kiosk import create_app
    from kiosk.db import get_db
    from kiosk.models import OrgUnit, SyncOutbox, Term
    from kiosk.services import node, sync
    from tests.browser import LiveServer
    from tests.kiosk.factories import setup_term, user

    frames = _frames(args.students)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = {"TESTING": True, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False}
        capp = create_app({**base, "INSTANCE_PATH": str(tmp / "central")})
        get_db(capp).upgrade()
        with get_db(capp).session() as s:
            term, centre, studs = setup_term(s, n=args.students)
            user(s, "op", org_unit_id=centre.id)
            _row, token = sync.create_token(s, s.get(Term, term.id), s.get(OrgUnit, centre.id), name="bench",
                                            actor="bench")
            xhs = [x.xh for x in studs]
        with LiveServer(capp) as srv:
            napp = create_app({**base, "INSTANCE_PATH": str(tmp / "node"), "NODE_SERVER": srv.url,
                               "NODE_TERM": "2027-07", "NODE_UNIT": "雁塔学习中心", "NODE_TOKEN": token,
                               "NODE_NAME": "bench", "NODE_SYNC_BATCH": args.batch})
            get_db(napp).upgrade()
            node.sync_once(napp, force_pull=True)
            c = napp.test_client()
            c.post("/login", data={"username": "op", "password": "password-123"})
            c.post("/station/start", data={"term": "2027-07", "station_name": "1号机位", "camera_kind": "browser"})
            # warm-up: face models load on the first capture
            from capture.prepare import prepare
            prepare(frames[0], mode="normalize")
            t0 = time.perf_counter()
            for xh, fr in zip(xhs, frames):
                sid = c.get("/api/v1/station/students", query_string={"q": xh}).json["students"][0]["id"]
                c.post("/api/v1/station/select", json={"student_id": sid})
                res = c.post("/api/v1/station/capture", data=fr, content_type="image/jpeg").json["result"]
                assert res["verdict"] == "pass", res["verdict"]
                assert c.post(f"/api/v1/station/photos/{res['photo_id']}/approve", json={}).status_code == 200
            capture_s = time.perf_counter() - t0
            with get_db(napp).session() as s:
                node.collect(s)
                entries = s.scalar(select(func.count()).select_from(SyncOutbox).where(SyncOutbox.status == "waiting"))
            t1 = time.perf_counter()
            out = node.sync_once(napp)
            sync_s = time.perf_counter() - t1
            with get_db(napp).session() as s:
                for r in s.scalars(select(SyncOutbox)):
                    r.status = "waiting"
            t2 = time.perf_counter()
            node.sync_once(napp)
            again_s = time.perf_counter() - t2
    n = args.students
    res = {"students": n, "entries": entries, "sent": out["push"]["sent"], "batch": args.batch,
           "capture_ms_per_student": round(capture_s * 1000 / n, 1),
           "sync_ms_per_student": round(sync_s * 1000 / n, 1),
           "sync_entries_per_s": round(entries / sync_s, 1),
           "repush_ms_per_student": round(again_s * 1000 / n, 1),
           "ratio_sync_to_capture": round(sync_s / capture_s, 2)}
    print(f"{n} students, {entries} outbox entries (batch {args.batch})")
    print(f"capture on the node : {res['capture_ms_per_student']:7.1f} ms / student")
    print(f"sync to the server  : {res['sync_ms_per_student']:7.1f} ms / student  "
          f"({res['sync_entries_per_s']} entries/s)  ratio sync/capture {res['ratio_sync_to_capture']}")
    print(f"same backlog again  : {res['repush_ms_per_student']:7.1f} ms / student (all duplicates)")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
