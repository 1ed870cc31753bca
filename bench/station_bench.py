"""Station benchmark: capture-to-verdict latency on a 1280×720 frame.

Run: ``.venv/bin/python bench/station_bench.py [--repeat N] [--json OUT]``

What is timed, per run, on ONE core (the process is pinned to one CPU; OpenCV and BLAS
limited to one thread):

* **station** — the whole request as the operator's browser makes it: ``POST
  /api/v1/station/capture`` with the frame as a high-quality JPEG (Pillow quality 95;
  ``station.js`` posts Chromium's quality 1.0, about the same size) through the Flask app: the frame stored (content-addressed, fsync) and the
  ``frame_received`` audit committed, ``capture.prepare`` (normalise + QC), the photo and
  its QC report recorded (the previous capture set aside as a retake), committed, the
  annotated PNG drawn, and the JSON answer with the station state built.
* **baseline** — in the same run, on the same bytes: bare ``prepare(mode="normalize")``
  (decode, detect, normalise, encode, QC) without the web, database, store or drawing.

Prints the medians, the ratio station / baseline, and the breakdown the capture view
reports.  Target (issue 5): ≤ 400 ms.  The frame is a real portrait from the corpus
(frll_009, ``$KIOSK_CORPUS`` or ``../shared/corpus``) on the light-blue backdrop as a
1280×720 webcam would see it (``tests.qc.fixtures.camera_frame``).  The first runs load
the face models and are not counted.
"""
from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _corpus() -> Path:
    from tests.conftest import CORPUS, corpus_available  # the one place that finds the corpus

    if not corpus_available():
        sys.exit("corpus not found (set KIOSK_CORPUS)")
    return CORPUS / "images"


def _frame_jpeg() -> bytes:
    from PIL import Image

    from tests.qc.fixtures import camera_frame

    rgb = camera_frame(_corpus() / "frll_009_neutral_front.jpg", size=(1280, 720))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _app(tmp: Path):
    from kiosk import create_app
    from kiosk.db import get_db
    from kiosk.models import Role, Student
    from kiosk.services import orgs, terms, users

    app = create_app({"INSTANCE_PATH": str(tmp / "instance"), "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    get_db(app).upgrade()
    with get_db(app).session() as s:
        term = terms.ensure_term(s, "2027-07")
        centre = orgs.OrgCache(s).centre("雁塔学习中心", "西安分部")
        s.add(Student(term_id=term.id, xh="206100100001", name="测试", id_number="11010519491231002X",
                      centre_id=centre.id))
        users.create_user(s, "bench", "bench-password", Role.OPERATOR, org_unit_id=centre.id)
    c = app.test_client()
    assert c.post("/login", data={"username": "bench", "password": "bench-password"}).status_code == 302
    r = c.post("/station/start", data={"term": "2027-07", "station_name": "bench", "camera_kind": "browser"})
    assert r.status_code == 302, r.data
    sid = c.get("/api/v1/station/students?q=206100100001").json["students"][0]["id"]
    assert c.post("/api/v1/station/select", json={"student_id": sid}).status_code == 200
    return app, c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=9, help="timed runs of each (default 9)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs first (model loading)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2

    cv2.setNumThreads(1)
    from capture.prepare import prepare

    data = _frame_jpeg()
    station_ms, base_ms, parts = [], [], []
    with tempfile.TemporaryDirectory(prefix="station-bench-") as tmp:
        app, client = _app(Path(tmp))
        for i in range(args.warmup + args.repeat):
            t0 = time.perf_counter()
            r = client.post("/api/v1/station/capture", data=data, content_type="image/jpeg")
            t1 = time.perf_counter()
            res = r.json["result"]
            assert r.status_code == 200 and res["verdict"] in ("pass", "warn"), (r.status_code, res.get("problems"))
            t2 = time.perf_counter()
            p = prepare(data, mode="normalize")
            t3 = time.perf_counter()
            assert p.verdict == res["verdict"]
            if i >= args.warmup:
                station_ms.append((t1 - t0) * 1000)
                base_ms.append((t3 - t2) * 1000)
                parts.append(res["timings_ms"])
        png = client.get(res["annotated_url"])
        assert png.status_code == 200 and png.data[:4] == b"\x89PNG"

    med = statistics.median
    out = {
        "frame": {"size": [1280, 720], "jpeg_bytes": len(data)}, "verdict": res["verdict"],
        "runs": args.repeat,
        "station_ms": {"median": round(med(station_ms), 1), "min": round(min(station_ms), 1),
                       "max": round(max(station_ms), 1)},
        "baseline_ms": {"median": round(med(base_ms), 1), "min": round(min(base_ms), 1),
                        "max": round(max(base_ms), 1)},
        "ratio": round(med(station_ms) / med(base_ms), 2),
        "breakdown_median_ms": {k: round(med([p[k] for p in parts if k in p]), 1) for k in parts[0]},
        "target_ms": 400,
    }
    out["meets_target"] = out["station_ms"]["median"] <= out["target_ms"]
    print(f"1280×720 JPEG ({len(data) // 1000} KB), {args.repeat} runs, one core, verdict {res['verdict']}")
    print(f"  station capture → verdict (HTTP, store, prepare, record, annotate): median {out['station_ms']['median']} ms "
          f"(min {out['station_ms']['min']}, max {out['station_ms']['max']})")
    print(f"  baseline prepare(normalize + QC) only:                          median {out['baseline_ms']['median']} ms")
    print(f"  ratio station / baseline: {out['ratio']}   target ≤ 400 ms: {'met' if out['meets_target'] else 'NOT met'}")
    print("  breakdown (median, ms): " + ", ".join(f"{k} {v}" for k, v in out["breakdown_median_ms"].items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
