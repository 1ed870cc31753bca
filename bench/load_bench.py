"""Load benchmark: 20 stations capturing and approving while a 2 000-photo intake runs.

    .venv/bin/python bench/load_bench.py [--stations 20] [--captures 5] [--intake 2000]
                                         [--setups inprocess,scaled] [--scaling 1,2,4]
                                         [--scaling-n 300] [--json OUT]

Each *setup* is a set of real servers started as processes on this machine:

* ``inprocess`` — the one-machine set-up: ``kiosk serve`` (one waitress process), SQLite,
  ``JOBS_BACKEND=inprocess`` (the intake job runs in the web process's runner and its
  worker pool, one worker per CPU).
* ``scaled`` — the several-machine set-up on one machine: PostgreSQL (a private cluster),
  Redis, ``kiosk serve --workers 2`` (two web processes) and ``kiosk worker`` Celery
  worker processes (one per CPU), ``JOBS_BACKEND=celery``.

Against each, at the same time and over real HTTP:

* **stations** — ``--stations`` threads, each an operator of its own 学习中心 who logs
  in, starts a session and, for ``--captures`` students, selects the student, posts a
  real 1280×720 camera frame (a corpus portrait on the blue backdrop, framed differently for each capture, JPEG q95) to
  ``/api/v1/station/capture`` and approves the result (with the checklist when it warns).
  Timed: capture → verdict per request.
* **intake** — an imaging-unit account uploads a ZIP of ``--intake`` distinct spec photos
  (``bench/intake_bench.py``'s cache) through ``/unit/intake`` and polls the job until it
  is done.  Timed: upload → done, and the job's own main-pass timing.

Printed per setup: captures/s, p50/p95 capture → verdict, intake photos/s (upload to done,
and the main pass), errors (any non-2xx answer or exception; must be 0).

**Scaling** (``--scaling``): the ``scaled`` set-up again with only an intake of
``--scaling-n`` photos and 1, 2, 4 Celery worker processes (each ``--concurrency 1``):
intake photos/s per count.  On a 2-core machine 4 processes cannot beat 2 — the point is
that the checks spread over separate worker processes and nothing is serialised in one.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import io
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.ports import free_port  # noqa: E402

TERM = "2027-07"
PORTRAIT = "frll_009_neutral_front.jpg"
PASSWORD = "load-bench-pass"


# ---------------------------------------------------------------------------- helpers
def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(q * (len(v) - 1))))
    return v[k]


class Client:
    """A browser-like HTTP client: cookies, the CSRF token of the last page, JSON."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())
        self.csrf = ""

    def request(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None,
                timeout: float = 120) -> tuple[int, bytes, dict]:
        headers = {"Accept": "application/json", "X-CSRFToken": self.csrf}
        if ctype:
            headers["Content-Type"] = ctype
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def page(self, path: str) -> str:
        st, data, _ = self.request("GET", path)
        html = data.decode("utf-8", "replace")
        m = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
            r'name="csrf_token" value="([^"]+)"', html)
        if m:
            self.csrf = m.group(1)
        return html

    def form(self, path: str, fields: dict[str, str]) -> int:
        body = urllib.parse.urlencode({"csrf_token": self.csrf, **fields}).encode()
        return self.request("POST", path, body, "application/x-www-form-urlencoded")[0]

    def json(self, method: str, path: str, obj=None) -> tuple[int, dict]:
        body = None if obj is None else json.dumps(obj).encode()
        st, data, _ = self.request(method, path, body, "application/json" if body is not None else None)
        try:
            return st, json.loads(data or b"{}")
        except ValueError:
            return st, {"raw": data[:200].decode("utf-8", "replace")}

    def login(self, username: str) -> None:
        self.page("/login")
        st = self.form("/login", {"username": username, "password": PASSWORD})
        if st != 302:
            raise RuntimeError(f"login {username}: HTTP {st}")
        self.page("/")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):  # keep 302 visible (login answers with one)
        return None



# ---------------------------------------------------------------------------- data
def station_frames(n: int = 12) -> list[bytes]:
    """``n`` real 1280×720 camera frames: the corpus portrait that passes QC as a camera
    frame, on the blue backdrop, framed a little differently each time (distinct files,
    as distinct students would be), JPEG q95; each is checked once to pass or warn."""
    from PIL import Image

    from capture.prepare import prepare
    from tests.conftest import CORPUS
    from tests.qc.fixtures import camera_frame

    out = []
    for i in range(n):
        rgb = camera_frame(CORPUS / "images" / PORTRAIT, size=(1280, 720), face_width=238.0 + 1.1 * i,
                           crown_y=102.0 + (i % 4) * 3)
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=95)
        data = buf.getvalue()
        if prepare(data, mode="normalize").verdict in ("pass", "warn"):
            out.append(data)
    if not out:
        sys.exit("no usable station frame from the corpus")
    return out


def intake_zip(n: int, dest: Path, first: int) -> tuple[Path, list[str]]:
    import intake_bench

    paths = intake_bench.ensure_photos(n, Path.home() / ".cache" / "kiosk-bench" / "intake-v2",
                                       max(1, os.cpu_count() or 1))
    xhs = [f"2070{first + i:09d}" for i in range(n)]
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for xh, p in zip(xhs, paths):
            zf.write(p, f"{xh}.jpg")
    return dest, xhs


def seed(db_url: str, instance: Path, stations: int, per_station: int, intake_xhs: list[list[str]]) -> None:
    """Term, one 学习中心 and one operator per station with its students, the intake
    students in their own 学习中心, an imaging-unit account."""
    os.environ["KIOSK_INSTANCE"] = str(instance)
    from kiosk import create_app
    from kiosk.db import get_db
    from kiosk.models import Role, Student
    from kiosk.services import orgs, terms, users
    from tests.kiosk.rosterdata import id_number

    app = create_app({"DATABASE_URL": db_url, "SECRET_KEY": "load-bench"})
    d = get_db(app)
    d.upgrade()
    with d.session() as s:
        term = terms.ensure_term(s, TERM)
        cache = orgs.OrgCache(s)
        rows, k = [], 0
        for i in range(stations):
            centre = cache.centre(f"第{i + 1:02d}学习中心", "压测分部")
            users.create_user(s, f"op{i:02d}", PASSWORD, Role.OPERATOR, org_unit_id=centre.id)
            for j in range(per_station):
                rows.append({"term_id": term.id, "xh": f"2061{i:03d}{j:06d}", "name": f"站{i}生{j}", "gender": "男",
                             "id_number": id_number(500_000 + k), "centre_id": centre.id, "id_legacy": False})
                k += 1
        centre = cache.centre("批量学习中心", "压测分部")
        for xhs in intake_xhs:
            for xh in xhs:
                rows.append({"term_id": term.id, "xh": xh, "name": f"批{xh[-5:]}", "gender": "男",
                             "id_number": id_number(k), "centre_id": centre.id, "id_legacy": False})
                k += 1
        s.execute(Student.__table__.insert(), rows)
        unit = orgs.ensure_imaging_unit(s, "压测采集单位")
        users.create_user(s, "unit", PASSWORD, Role.IMAGING_UNIT, imaging_unit_id=unit.id)
        s.commit()
    d.engine.dispose()


# ---------------------------------------------------------------------------- servers
class Procs:
    """Processes of one setup; all stopped (process groups) at the end."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        self.tmp, self.env, self.procs = tmp, env, []

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        p = subprocess.Popen([sys.executable, "-m", "kiosk", *args], env=self.env, stdout=log,
                             stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True)
        self.procs.append((name, p))
        return p

    def wait_http(self, base: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(base + "/login", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        logs = "\n".join(f"--- {n}.log\n" + (self.tmp / f"{n}.log").read_text(errors="replace")[-2000:]
                         for n, _ in self.procs)
        raise RuntimeError(f"server at {base} did not answer\n{logs}")

    def stop(self) -> None:
        for _, p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for _, p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.procs.clear()


def start_setup(kind: str, tmp: Path):
    """The environment, database URL and stop functions of ``kind``'s servers (PostgreSQL and
    Redis for ``scaled``; the kiosk processes are started by :func:`run_load`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["KIOSK_INSTANCE"] = str(tmp / "instance")
    env["KIOSK_SECRET_KEY"] = "load-bench"
    closers = []
    if kind == "inprocess":
        db_url = f"sqlite:///{tmp / 'instance' / 'kiosk.sqlite3'}"
        env["KIOSK_JOBS_BACKEND"] = "inprocess"
    else:
        from tests.pg import PgServer
        from tests.redis_server import RedisServer

        pg = PgServer()
        pg.start()
        closers.append(pg.stop)
        db_url = pg.create_database("kiosk_load")
        redis = RedisServer()
        broker = redis.start()
        closers.append(redis.stop)
        env["KIOSK_JOBS_BACKEND"] = "celery"
        env["KIOSK_CELERY_BROKER_URL"] = broker
    env["KIOSK_DATABASE_URL"] = db_url
    return env, db_url, closers


def run_load(kind: str, args, frames: list[bytes], *, stations: int, per_station: int, n_intake: int,
             celery_workers: int | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"load-{kind}-") as tmpd:
        tmp = Path(tmpd)
        (tmp / "instance").mkdir()
        env, db_url, closers = start_setup(kind, tmp)
        procs = Procs(tmp, env)
        try:
            z, xhs = intake_zip(n_intake, tmp / "unit.zip", 0) if n_intake else (None, [])
            seed(db_url, tmp / "instance", stations, per_station, [xhs])
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            if kind == "inprocess":
                procs.start("web", ["serve", "--port", str(port), "--threads", "24"])
            else:
                procs.start("web", ["serve", "--port", str(port), "--threads", "24", "--workers",
                                    str(args.web_processes)])
                nw = celery_workers or (os.cpu_count() or 1)
                for w in range(nw):
                    procs.start(f"worker{w}", ["worker", "--concurrency", "1", "--hostname", f"w{w}@%h"])
            procs.wait_http(base)
            if kind != "inprocess":
                time.sleep(3)                       # workers loading their models
            return _drive(base, frames, stations, per_station, z, n_intake, kind)
        finally:
            procs.stop()
            for c in reversed(closers):
                c()


def _drive(base: str, frames: list[bytes], stations: int, per_station: int, z: Path | None, n_intake: int,
           kind: str) -> dict:
    lat: list[float] = []
    errors: list[str] = []
    verdicts: dict[str, int] = {}
    lock = threading.Lock()
    start_gate = threading.Barrier(stations + (1 if z else 0) + 1)
    intake_out: dict = {}

    def err(msg: str) -> None:
        with lock:
            errors.append(msg)

    def station(i: int) -> None:
        c = Client(base)
        try:
            c.login(f"op{i:02d}")
            c.page("/station/")
            st = c.form("/station/start", {"term": TERM, "station_name": f"工位{i:02d}", "place": "压测",
                                            "camera_kind": "browser"})
            if st != 302:
                err(f"station {i}: start HTTP {st}")
                return
            c.page("/station/session")
        except Exception as e:  # noqa: BLE001
            err(f"station {i}: {e!r}")
            return
        finally:
            start_gate.wait()
        for j in range(per_station):
            xh = f"2061{i:03d}{j:06d}"
            try:
                st, r = c.json("GET", f"/api/v1/station/students?q={xh}")
                if st != 200 or not r.get("students"):
                    err(f"{xh}: search HTTP {st}")
                    continue
                st, r = c.json("POST", "/api/v1/station/select", {"student_id": r["students"][0]["id"]})
                if st != 200:
                    err(f"{xh}: select HTTP {st}")
                    continue
                t0 = time.perf_counter()
                st, data, _ = c.request("POST", "/api/v1/station/capture", frames[(i + j) % len(frames)],
                                        "image/jpeg")
                dt = time.perf_counter() - t0
                if st != 200:
                    err(f"{xh}: capture HTTP {st} {data[:200]!r}")
                    continue
                res = json.loads(data)["result"]
                with lock:
                    lat.append(dt)
                    verdicts[res["verdict"]] = verdicts.get(res["verdict"], 0) + 1
                if res["verdict"] in ("pass", "warn"):
                    body = {"checklist": ["no_jewellery", "ears_visible", "no_hat", "no_tinted_lenses"]}
                    st, r = c.json("POST", f"/api/v1/station/photos/{res['photo_id']}/approve", body)
                    if st != 200:
                        err(f"{xh}: approve HTTP {st} {r}")
            except Exception as e:  # noqa: BLE001
                err(f"{xh}: {e!r}")

    def unit() -> None:
        c = Client(base)
        try:
            c.login("unit")
            html = c.page("/unit/")
            m = re.search(r'name="term"[^>]*>\s*<option value="(\d+)"', html) or re.search(
                r'<option value="(\d+)"[^>]*>\s*' + TERM, html)
            term_id = m.group(1) if m else "1"
            boundary = uuid.uuid4().hex
            payload = z.read_bytes()
            parts = [
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{c.csrf}\r\n".encode(),
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"term\"\r\n\r\n{term_id}\r\n".encode(),
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nxh\r\n".encode(),
                (f"--{boundary}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"unit.zip\"\r\n"
                 "Content-Type: application/zip\r\n\r\n").encode() + payload + b"\r\n",
                f"--{boundary}--\r\n".encode()]
        except Exception as e:  # noqa: BLE001
            err(f"intake setup: {e!r}")
            start_gate.wait()
            return
        start_gate.wait()
        t0 = time.perf_counter()
        st, data, _ = c.request("POST", "/unit/intake", b"".join(parts), f"multipart/form-data; boundary={boundary}",
                                timeout=600)
        if st != 202:
            err(f"intake upload HTTP {st} {data[:300]!r}")
            return
        job = json.loads(data)["job"]
        last = None
        while True:
            time.sleep(1.0)
            st, r = c.json("GET", f"/unit/jobs/{job}/status")
            if st != 200:
                err(f"intake status HTTP {st}")
                continue
            if r.get("done"):
                last = r
                break
        intake_out.update(wall_s=time.perf_counter() - t0, status=last["status"], outcomes=last["outcomes"],
                          error=last.get("error"), job=job)
        if last["status"] != "done":
            err(f"intake job {job}: {last['status']} {last.get('error')}")

    threads = [threading.Thread(target=station, args=(i,)) for i in range(stations)]
    if z:
        threads.append(threading.Thread(target=unit))
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    load0 = loadavg()
    station_done = [0.0]

    def watch():
        for t in threads[:stations]:
            t.join()
        station_done[0] = time.perf_counter() - t0
    w = threading.Thread(target=watch)
    w.start()
    for t in threads:
        t.join()
    w.join()
    out = {
        "setup": kind, "stations": stations, "captures": len(lat), "verdicts": verdicts,
        "station_wall_s": round(station_done[0], 1),
        "captures_per_s": round(len(lat) / station_done[0], 2) if station_done[0] else 0,
        "capture_p50_ms": round(pct(lat, 0.5) * 1000) if lat else None,
        "capture_p95_ms": round(pct(lat, 0.95) * 1000) if lat else None,
        "errors": len(errors), "error_samples": errors[:10], "loadavg_start": load0, "loadavg_end": loadavg(),
    }
    if z:
        out.update(intake_photos=n_intake, intake_wall_s=round(intake_out.get("wall_s", float("nan")), 1),
                   intake_photos_per_s=round(n_intake / intake_out["wall_s"], 1) if intake_out.get("wall_s") else 0,
                   intake_outcomes=intake_out.get("outcomes"), intake_status=intake_out.get("status"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stations", type=int, default=20)
    ap.add_argument("--captures", type=int, default=5, help="students captured and approved per station")
    ap.add_argument("--intake", type=int, default=2000)
    ap.add_argument("--setups", default="inprocess,scaled")
    ap.add_argument("--web-processes", type=int, default=2)
    ap.add_argument("--scaling", default="1,2,4", help="Celery worker process counts ('' to skip)")
    ap.add_argument("--scaling-n", type=int, default=300)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    frames = station_frames()
    print(f"{len(frames)} station frames (1280×720, JPEG q95); {os.cpu_count()} CPUs; load {loadavg()}", flush=True)
    results = []
    for kind in [k for k in args.setups.split(",") if k]:
        print(f"\n== {kind}: {args.stations} stations × {args.captures} captures + intake of {args.intake}", flush=True)
        r = run_load(kind, args, frames, stations=args.stations, per_station=args.captures, n_intake=args.intake)
        results.append(r)
        print(json.dumps(r, ensure_ascii=False), flush=True)
    scaling = []
    for n in [int(x) for x in args.scaling.split(",") if x]:
        print(f"\n== scaling: intake of {args.scaling_n} with {n} Celery worker process(es)", flush=True)
        r = run_load("scaled", args, frames, stations=0, per_station=0, n_intake=args.scaling_n, celery_workers=n)
        scaling.append({"workers": n, "photos_per_s": r["intake_photos_per_s"], "wall_s": r["intake_wall_s"],
                        "errors": r["errors"], "status": r["intake_status"], "error_samples": r["error_samples"]})
        print(json.dumps(scaling[-1], ensure_ascii=False), flush=True)

    print("\nsetup       captures/s  p50 ms  p95 ms  intake photos/s  intake s  errors")
    for r in results:
        print(f"{r['setup']:10s}  {r['captures_per_s']:10.2f}  {r['capture_p50_ms']:6d}  {r['capture_p95_ms']:6d}  "
              f"{r.get('intake_photos_per_s', 0):15.1f}  {r.get('intake_wall_s', 0):8.1f}  {r['errors']:6d}")
    if scaling:
        base = scaling[0]["photos_per_s"] or float("nan")
        print(f"\nintake of {args.scaling_n} photos by Celery worker processes ({os.cpu_count()} CPUs):")
        for s in scaling:
            print(f"  {s['workers']} worker(s): {s['photos_per_s']:.1f} photos/s "
                  f"(×{s['photos_per_s'] / base:.2f} vs 1), errors {s['errors']}")
        if (os.cpu_count() or 1) < max(s["workers"] for s in scaling):
            print(f"  (only {os.cpu_count()} CPUs here: more worker processes than CPUs cannot be faster)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"setups": results, "scaling": scaling}, ensure_ascii=False, indent=1))
    bad = sum(r["errors"] for r in results) + sum(s["errors"] for s in scaling)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
