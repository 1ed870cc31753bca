"""Sweep: truncated landmark models (tools/calibration/shape_model.py) for the per-eye mirror fits.

For each variant (full model; the first 300/200/150/100/50 trees of each of the 15
cascades; the first 10 cascades of 500 trees) prints:

  (a) the time of one mirror fit on a face not seen just before: for each golden photo
      (tests/qc/golden.py photo_bytes) a fresh detection + joint fit (full model), then
      the two mirror fits of eyes_open with the variant's predictor; only the mirror
      fits are timed; median over photos × rounds (per fit = the pair / 2).  Each round
      runs the variants one after another over all photos (not variant after variant on
      one photo, which would have the other variants' models evict this one's, as QC
      never does).  QC runs other checks between photos; this loop does not.
  (b) per-eye EARs (subject's sides) on every single-face corpus image and on the
      composited winks of tools/calibration/checks_table.py eyes_cases(), through
      qc.checks.eyes_open._mirror_fits with the predictor swapped, and each fit's eye
      shift from the joint fit's eye (crop px).

Summary per variant: mirror-fit ms (median, quartiles), min open-eye EAR (corpus images
labelled open, eyes whose own fit is kept, i.e. shift <= eye_fit_max_shift; "(all)"
without that filter), max shut-eye EAR over the Yale 03 cases (composited winks' shut
eye, yale03_wink.png's shut left eye, both eyes of yale03_sleepy.png), number of fits
shifting > 10 px (of 122), and against the profile's per-eye limits: open kept eyes below
eye_pass_min (would be flagged) and Yale 03 shut eyes below eye_warn_min (would fail).  Writes out/eye_model_sweep.csv
(one row per image × variant) and out/eye_model_table.csv (the summary; times are this
machine's, shared: compare variants within one run).

    .venv/bin/python tools/calibration/eye_model_sweep.py [--rounds 3]
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

OUT = Path(__file__).parent / "out"

#: (name, trees_per_cascade, cascades); None = the installed full model.  ``eNxT``: the
#: first N cascades cut to T trees, the rest whole.  ``fullcopy``: all trees, rewritten and
#: loaded as a second predictor (same landmarks as ``full``; its own memory, so its fits
#: do not share cache with the joint fit's, which ``full`` does).
VARIANTS = [("full", None, None), ("fullcopy", 500, None), ("t300", 300, None), ("t200", 200, None), ("t150", 150, None),
            ("t100", 100, None), ("t50", 50, None), ("c14x500", 500, 14), ("c13x500", 500, 13), ("c10x500", 500, 10),
            # fewer trees in the early (coarse) cascades only; a list is one count per cascade
            ("e5x100", [100] * 5 + [500] * 10, None), ("e8x200", [200] * 8 + [500] * 7, None),
            ("e10x100", [100] * 10 + [500] * 5, None)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    load0 = os.getloadavg()

    import dlib

    import qc
    from qc import faces
    from tools.calibration import shape_model as eye_model
    from qc.checks import eyes_open
    from qc.checks._common import face_crop
    from qc.context import PhotoContext
    from tests.conftest import CORPUS
    from tests.qc import fixtures as fx
    from tests.qc import golden

    images = CORPUS / "images"
    src = eye_model.source_path()
    tmp = Path(tempfile.mkdtemp(prefix="eye_model_sweep."))
    b = src.read_bytes()
    t0 = time.perf_counter()
    layout = eye_model.parse(b)
    parse_s = time.perf_counter() - t0
    print(f"source {src.name}: {len(b)} bytes, {layout.cascades} cascades x {layout.trees_per_cascade[0]} trees; "
          f"parse {parse_s:.2f} s")
    preds, sizes = {}, {}
    for name, t, c in VARIANTS:
        if t is None:
            preds[name] = faces.models()[1]
            sizes[name] = round(len(b) / 1e6, 1)
            print(f"  {name:8s} {len(b) / 1e6:6.1f} MB")
            continue
        t0 = time.perf_counter()
        path = eye_model.build(src, tmp / f"{name}.dat", t, c)
        bs = time.perf_counter() - t0
        t0 = time.perf_counter()
        preds[name] = dlib.shape_predictor(str(path))
        sizes[name] = round(path.stat().st_size / 1e6, 1)
        ls = time.perf_counter() - t0
        print(f"  {name:8s} {path.stat().st_size / 1e6:6.1f} MB  build {bs:.2f} s (parse + write)  dlib load {ls:.2f} s")
        path.unlink()
    tmp.rmdir()

    prof = qc.load_profile()
    th = prof.thresholds("eyes_open")
    max_shift = th.eye_fit_max_shift

    # (a) timing, interleaved: detection + joint fit of photo i, then the variant's two mirror fits.
    photos = golden.photo_bytes(images)
    for data in photos.values():                 # warm-up: models, code paths
        ctx = PhotoContext(data, detection=prof.detection)
        for p in preds.values():
            eyes_open._mirror_fits(face_crop(ctx), p)
    times = {name: [] for name in preds}
    for _ in range(args.rounds):
        for name, p in preds.items():            # one variant at a time, as QC would run it
            for data in photos.values():
                ctx = PhotoContext(data, detection=prof.detection)
                fc = face_crop(ctx)              # detection + joint fit (full model) + crop
                t0 = time.perf_counter()
                eyes_open._mirror_fits(fc, p)
                times[name].append((time.perf_counter() - t0) / 2 * 1000)

    # (b) EARs on the corpus and the composited winks (as checks_table.eyes_cases builds them).
    items = []
    for r in csv.DictReader(open(CORPUS / "MANIFEST.csv", encoding="utf-8")):
        if r["faces"] == "1":
            items.append((r["file"], "closed" if r["eyes_open"] == "no" else "open",
                          lambda f=r["file"]: images / f))
    for open_, shut in (("yale03_normal.png", "yale03_sleepy.png"), ("yale01_normal.png", "yale01_sleepy.png")):
        for eye in ("left", "right"):
            items.append((f"wink[{open_}+{shut}, {eye} eye shut]", f"{eye} shut",
                          lambda o=open_, s=shut, e=eye: fx.wink(images / o, images / s, e)))
    rows = []
    for name, label, make in items:
        ctx = PhotoContext(make(), detection=prof.detection, name=name)
        if ctx.face is None:
            continue
        fc = face_crop(ctx)
        for vname, p in preds.items():
            pe = eyes_open._mirror_fits(fc, p)
            # subject's right eye = image left
            rows.append(dict(image=name, label=label, variant=vname, right_ear=round(pe.img_left, 3),
                             left_ear=round(pe.img_right, 3), right_shift=round(pe.shift_left, 1),
                             left_shift=round(pe.shift_right, 1)))
    OUT.mkdir(exist_ok=True)
    with open(OUT / "eye_model_sweep.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    def shut_eyes(r):
        """The shut eyes' EARs of a Yale 03 case, else []."""
        if r["image"] == "yale03_sleepy.png":
            return [r["left_ear"], r["right_ear"]]
        if r["image"] == "yale03_wink.png":
            return [r["left_ear"]]
        if r["image"].startswith("wink[yale03"):
            return [r[f"{r['label'].split()[0]}_ear"]]
        return []

    print(f"\n{len(photos)} golden photos x {args.rounds} rounds; {len({r['image'] for r in rows})} EAR cases; "
          f"load average before {load0[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"{'variant':8s} {'fit ms':>7s} {'p25':>6s} {'p75':>6s}  {'min open':>8s} {'(all)':>6s}  "
          f"{'max shut y03':>12s}  {'shut y03 [wink L, wink R, real wink, sleepy L/R]':48s} {'shift>10':>8s}  "
          f"{'open<pass':>9s} {'shut fail':>9s}  worst shifts")
    table = []
    for vname in preds:
        vr = [r for r in rows if r["variant"] == vname]
        t = sorted(times[vname])
        q = statistics.quantiles(t, n=4)
        open_kept, open_all, shifts = [], [], []
        for r in vr:
            for side in ("left", "right"):
                shifts.append((r[f"{side}_shift"], f"{r['image']}:{side}"))
                if r["label"] == "open":
                    open_all.append(r[f"{side}_ear"])
                    if r[f"{side}_shift"] <= max_shift:
                        open_kept.append(r[f"{side}_ear"])
        by = {r["image"]: r for r in vr}
        shut = [by["wink[yale03_normal.png+yale03_sleepy.png, left eye shut]"]["left_ear"],
                by["wink[yale03_normal.png+yale03_sleepy.png, right eye shut]"]["right_ear"],
                by["yale03_wink.png"]["left_ear"], by["yale03_sleepy.png"]["left_ear"],
                by["yale03_sleepy.png"]["right_ear"]]
        assert sorted(shut) == sorted(sum((shut_eyes(r) for r in vr), []))
        big = sorted(s for s in shifts if s[0] > 10)[::-1]
        print(f"{vname:8s} {statistics.median(t):7.2f} {q[0]:6.2f} {q[2]:6.2f}  {min(open_kept):8.3f} {min(open_all):6.3f}  "
              f"{max(shut):12.3f}  {str(shut):48s} {len(big):8d}  "
              f"{sum(e < th.eye_pass_min for e in open_kept):9d} {sum(e < th.eye_warn_min for e in shut)}/{len(shut):<7d}  "
              + ", ".join(f"{n} {s:.1f}" for s, n in big[:4]))
        table.append([vname, sizes[vname], round(statistics.median(t), 2), min(open_kept), min(open_all), max(shut),
                      " ".join(map(str, shut)), len(big), sum(e < th.eye_pass_min for e in open_kept),
                      sum(e < th.eye_warn_min for e in shut)])
    with open(OUT / "eye_model_table.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["variant", "file_mb", "mirror_fit_ms_median", "min_open_ear_kept", "min_open_ear_all",
                    "max_shut_ear_yale03", "shut_yale03 (wink L, wink R, real wink L, sleepy L, sleepy R)",
                    "fits_shift_gt_10", "open_kept_below_eye_pass_min", "shut_yale03_below_eye_warn_min"])
        w.writerows(table)
    # How far each variant's per-eye EAR moves from the full model's, over all eyes.
    full = {(r["image"], s): r[f"{s}_ear"] for r in rows if r["variant"] == "full" for s in ("left", "right")}
    print("\n|EAR - full| per eye (all cases): median / max")
    for vname in preds:
        if vname == "full":
            continue
        d = [abs(r[f"{s}_ear"] - full[(r["image"], s)]) for r in rows if r["variant"] == vname for s in ("left", "right")]
        print(f"  {vname:8s} {statistics.median(d):.3f} / {max(d):.3f}")


if __name__ == "__main__":
    main()
