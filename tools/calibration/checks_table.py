"""Per-check calibration tables: the corpus against its human judgements, and derived
cases that break one rule at a time at graded strengths.

Writes:
  out/corpus_measures.csv  every corpus image: manifest columns + each check's status/measure
  out/corpus_checks.csv    per check with a manifest column: cases, defective (per the
                           manifest), caught (warn/fail on defective), missed, false alarms
                           (warn/fail on good), correct
  out/derived_cases.csv    defect, strength, target check, its status and measure, other
                           failing checks
  out/exposure_steps.csv   corpus portraits on the spec backdrop, the whole photo (or the
                           face only) × 0.4 … × 1.6: exposure status, face luma, backdrop ΔL*
  out/exposure_table.csv   per mode and step: cases, pass / warn / fail, caught, missed
  out/eyes_cases.csv       every single-face corpus image and the composited winks: manifest
                           label, per-eye EAR (subject's left/right), joint EAR, status, eye named
  out/pose_table.csv       yaw and pitch of every single-face corpus image with the manifest's
                           frontal label; summary rows (|yaw| quantiles, share within the
                           limits per label); pitch cases (real head-down photo, planar tilts)

    .venv/bin/python tools/calibration/checks_table.py
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

OUT = Path(__file__).parent / "out"


def mouth_open(notes: str) -> bool:
    n = notes.lower()
    return any(s in n for s in ("mouth open", "mouth slightly open", "teeth", "laughing", "speaking"))


#: check -> (manifest test: row -> True if defective / None to skip, description)
LABELS = {
    "face_count": (lambda r: r["faces"] != "1", "faces != 1"),
    "eyes_open": (lambda r: None if r["faces"] != "1" else r["eyes_open"] == "no", "eyes_open = no"),
    "head_pose": (lambda r: None if r["faces"] != "1" else r["frontal"] == "no", "frontal = no"),
    "sharpness": (lambda r: None if r["faces"] != "1" else r["sharp"] == "no", "sharp = no"),
    "mouth_closed": (lambda r: None if r["faces"] != "1" else mouth_open(r["notes"]), "notes: mouth open"),
    "background_uniformity": (lambda r: None if r["faces"] != "1" else r["background"] == "busy", "background = busy"),
    "lighting_symmetry": (lambda r: None if r["faces"] != "1" else ("leftlight" in r["file"] or "rightlight" in r["file"]), "Yale side light"),
    "exposure": (lambda r: None if r["faces"] != "1" else ("dark" in r["notes"].lower() and "luma" in r["notes"].lower()), "notes: mean luma stated dark"),
}


def corpus(corpus_dir: Path):
    import qc
    from qc.runner import make_context

    prof = qc.load_profile()
    rows = list(csv.DictReader(open(corpus_dir / "MANIFEST.csv", encoding="utf-8")))
    measures, reports = [], {}
    for r in rows:
        rep = qc.check_photo(make_context(corpus_dir / "images" / r["file"], prof), prof)
        reports[r["file"]] = rep
        m = {k: r[k] for k in ("file", "faces", "frontal", "eyes_open", "background", "sharp")}
        m["mouth"] = "open" if mouth_open(r["notes"]) else "closed"
        for c in rep.checks:
            m[c.check] = f"{c.status.value}:{c.measured}"
        measures.append(m)
    table = []
    for check, (fn, desc) in LABELS.items():
        n = defective = caught = missed = fa = correct = 0
        for r in rows:
            lab = fn(r)
            if lab is None:
                continue
            st = reports[r["file"]][check].status.value
            if st == "not_assessed":
                continue
            n += 1
            flagged = st in ("warn", "fail")
            defective += lab
            caught += lab and flagged
            missed += lab and not flagged
            fa += (not lab) and flagged
            correct += lab == flagged
        table.append([check, desc, n, defective, caught, missed, fa, correct])
    return measures, table


def derived(corpus_dir: Path):
    from tests.qc import fixtures as fx
    from tests.qc.fixtures import Layout

    import qc

    p = corpus_dir / "frll_009_neutral_front.jpg"
    grid = [
        ("blur_sigma", "sharpness", [0.5, 1.0, 1.5, 2.0, 3.0], lambda v: dict(post_fn=fx.blur(v))),
        ("face_gain", "exposure", [0.9, 0.75, 0.6, 0.5, 0.4, 1.3, 1.5], lambda v: dict(person_fn=fx.person_gain(v))),
        ("photo_gain", "exposure", [0.9, 0.8, 0.7, 0.5, 0.4, 1.2, 1.4], lambda v: dict(post_fn=fx.photo_gain(v))),
        ("side_light", "lighting_symmetry", [0.1, 0.2, 0.3, 0.5, 0.7], lambda v: dict(person_fn=fx.side_light(v))),
        ("shine_share", "highlights", [0.005, 0.01, 0.02, 0.04], lambda v: dict(person_fn=fx.shine(v))),
        ("crown_y", "head_top", [64, 50, 45, 40, 30, 15], lambda v: dict(layout=Layout(crown_y=v))),
        ("eye_y", "eye_line", [262, 290, 300, 310, 320], lambda v: dict(layout=Layout(eye_y=v))),
        ("centre_x", "horizontal_centre", [240, 225, 216, 210, 195], lambda v: dict(layout=Layout(centre_x=v))),
        ("roll_deg", "eye_roll", [0, 1, 2, 3, 4, 5, 6, 8], lambda v: dict(layout=Layout(roll_deg=v))),
        ("face_width", "face_width", [175, 190, 207, 260, 300, 310], lambda v: dict(layout=Layout(face_width=v, eye_y=298 if v > 290 else 262))),
        ("grey_mix", "background_colour", [0.1, 0.2, 0.3, 0.5], lambda v: dict(backdrop=tuple(int(round((1 - v) * a + v * 200)) for a in (100, 197, 255)))),
        ("frame_px", "border", [1, 2, 4, 8], lambda v: dict(post_fn=fx.frame(int(v)))),
        ("jpeg_quality", "jpeg_quality", [90, 70, 60, 50, 30], lambda v: dict(quality=int(v), pad_to_kb=35)),
        ("top_blue", "clothing_contrast", [1], lambda v: dict(person_fn=fx.clothing_colour())),
        ("top_navy", "clothing_contrast", [1], lambda v: dict(person_fn=fx.clothing_colour((20, 30, 70)))),
        ("cast_blue_gain", "natural_colour", [0.9, 0.8, 0.7, 0.55], lambda v: dict(person_fn=fx.person_cast(1.0, 0.9, v))),
        ("glare", "glasses_glare", [1], lambda v: dict(person_fn=fx.lens_glare())),
    ]
    out = []
    for defect, check, values, make in grid:
        for v in values:
            rep = qc.check_photo(fx.make_spec_photo(p, **make(v)), name=f"{defect}.jpg")
            c = rep[check]
            others = [x.check for x in rep.checks if x.status.value == "fail" and x.check != check]
            out.append([defect, v, check, c.status.value, c.measured, " ".join(others)])
    return out


#: Corpus portraits that cut out cleanly for composing on the spec backdrop (obama_portrait
#: does not: its flag background stays in the cut-out).
EXPOSURE_PORTRAITS = [
    "frll_009_neutral_front.jpg", "damon_plain_1.jpg", "damon_plain_3.jpg", "jolie_white_bg.jpg",
    "dorsey_plain.jpg", "lacamoire_grey_studio.jpg", "zuckerberg_white.jpg", "musk_halfbody.jpg",
    "pichai_blue_bg.jpg", "aniston_blue_bg.jpg", "jobs_portrait.jpg", "lacamoire_white.jpg", "leslie_1.jpg",
    "obama_speech.jpg", "salley_chip_1.jpg", "yale01_normal.png", "guo_graduation_gown.jpg",
]
EXPOSURE_GAINS = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.6]


def exposure_steps(images: Path):
    """Graded exposure: the whole composed photo × g (camera exposure) and the person × g
    (face lights) for each portrait.  A step counts as a defect from half a stop
    (g ≤ 0.7 or g ≥ 1.4); 0.8–1.2 are reported, neither caught nor missed."""
    import qc
    from tests.qc import fixtures as fx

    rows = []
    for name in EXPOSURE_PORTRAITS:
        for mode in ("photo", "face"):
            for g in EXPOSURE_GAINS:
                if mode == "photo":
                    data = fx.make_spec_photo(images / name, post_fn=fx.photo_gain(g))
                else:
                    data = fx.make_spec_photo(images / name, person_fn=fx.person_gain(g))
                r = qc.check_photo(data, name=f"{name}@{g}")["exposure"]
                m = r.measured if isinstance(r.measured, dict) else {}
                rows.append([name, mode, g, r.status.value, r.code, m.get("mean"), m.get("backdrop_dl", "")])
    table = []
    for mode in ("photo", "face"):
        for g in EXPOSURE_GAINS:
            st = [r[3] for r in rows if r[1] == mode and r[2] == g and r[3] != "not_assessed"]
            defect = "yes" if (g <= 0.7 or g >= 1.4) else ("no" if g == 1.0 else "borderline")
            flagged = sum(s in ("warn", "fail") for s in st)
            table.append([mode, g, defect, len(st), st.count("pass"), st.count("warn"), st.count("fail"),
                          flagged if defect == "yes" else "", len(st) - flagged if defect == "yes" else "",
                          flagged if defect == "no" else ""])
    return rows, table


def eyes_cases(corpus_dir: Path):
    """Per-eye openness on the corpus and on winks composited from same-session shots."""
    import qc
    from tests.qc import fixtures as fx

    images = corpus_dir / "images"
    items = []
    for r in csv.DictReader(open(corpus_dir / "MANIFEST.csv", encoding="utf-8")):
        if r["faces"] == "1":
            items.append((r["file"], "closed" if r["eyes_open"] == "no" else "open",
                          "wink" in r["file"], lambda f=r["file"]: images / f))
    for open_, shut in (("yale03_normal.png", "yale03_sleepy.png"), ("yale01_normal.png", "yale01_sleepy.png")):
        for eye in ("left", "right"):
            items.append((f"wink[{open_}+{shut}, {eye} eye shut]", f"{eye} shut", True,
                          lambda o=open_, s=shut, e=eye: fx.wink(images / o, images / s, e)))
    rows = []
    for name, label, is_wink, make in items:
        r = qc.check_photo(make(), name=name)["eyes_open"]
        m = r.measured if isinstance(r.measured, dict) else {}
        rows.append([name, label, m.get("left"), m.get("right"), m.get("joint"), m.get("own_fit", ""),
                     r.status.value, m.get("eye") if r.status.value in ("warn", "fail") else "", r.message_zh])
    return rows


def pose_table(corpus_dir: Path):
    """Yaw/pitch on the corpus against the manifest's frontal label, and pitch cases."""
    import numpy as np

    import qc
    from tests.qc import fixtures as fx

    prof = qc.load_profile()
    t = prof.thresholds("head_pose")
    images = corpus_dir / "images"
    rows, per = [], {"yes": [], "no": []}
    for r in csv.DictReader(open(corpus_dir / "MANIFEST.csv", encoding="utf-8")):
        if r["faces"] != "1":
            continue
        c = qc.check_photo(images / r["file"])["head_pose"]
        if not isinstance(c.measured, dict):
            continue
        yaw, pitch = c.measured["yaw"], c.measured["pitch"]
        per[r["frontal"]].append(abs(yaw))
        rows.append(["corpus", r["file"], r["frontal"], yaw, pitch, c.status.value, c.code])
    summary = []
    for lab, v in per.items():
        v = np.array(v)
        summary.append(["summary", f"frontal={lab}", len(v), f"median |yaw| {np.median(v):.1f}",
                        f"p90 |yaw| {np.percentile(v, 90):.1f}",
                        f"|yaw| <= {t.pass_max:g}: {int((v <= t.pass_max).sum())}",
                        f"<= {t.warn_max:g}: {int((v <= t.warn_max).sum())}", f"> {t.warn_max:g}: {int((v > t.warn_max).sum())}"])
    # Pitch cases.  The corpus has one real head-down photo (woman_looking_down, also
    # turned) and no head-up photo.  A planar tilt (the photo itself tilted towards or
    # away from the camera) must *not* read as pitch: the nose-height share is invariant
    # under it to first order; these rows show it.
    pitch_rows = []
    for ang in (-20, -10, 0, 10, 20):
        data = fx.make_spec_photo(images / "frll_009_neutral_front.jpg", post_fn=_planar_tilt(ang))
        c = qc.check_photo(data)["head_pose"]
        pitch_rows.append(["pitch_case", f"frll composed, planar tilt {ang:+d}°", "planar", c.measured.get("yaw"),
                           c.measured.get("pitch"), c.status.value, c.code])
    for f in ("woman_looking_down.jpg", "yale01_normal.png", "yale01_sleepy.png", "yale03_normal.png",
              "yale03_wink.png"):
        c = qc.check_photo(images / f)["head_pose"]
        note = "head tilted down (manifest notes)" if "down" in f else "same-session level head"
        pitch_rows.append(["pitch_case", f, note, c.measured.get("yaw"), c.measured.get("pitch"), c.status.value, c.code])
    return rows, summary, pitch_rows


def _planar_tilt(deg: float):
    """Perspective warp of the whole frame as if the print were tilted ``deg`` about its
    horizontal midline (camera at 3 frame heights)."""
    def fn(rgb):
        import cv2
        import numpy as np

        h, w = rgb.shape[:2]
        a = np.radians(deg)
        f = 3.0 * h
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = []
        for x, y in src:
            yc = y - h / 2.0
            z = yc * np.sin(a)
            s = f / (f + z)
            dst.append([w / 2.0 + (x - w / 2.0) * s, h / 2.0 + yc * np.cos(a) * s])
        m = cv2.getPerspectiveTransform(src, np.float32(dst))
        return cv2.warpPerspective(rgb, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    return fn


def _write(path: Path, header, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def main() -> None:
    from tests.conftest import CORPUS

    measures, table = corpus(CORPUS)
    OUT.mkdir(exist_ok=True)
    with open(OUT / "corpus_measures.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(measures[0]))
        w.writeheader()
        w.writerows(measures)
    with open(OUT / "corpus_checks.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["check", "manifest says defective when", "cases", "defective", "caught", "missed",
                    "false_alarms", "correct"])
        w.writerows(table)
    for r in table:
        print(*r, sep="\t")
    rows = derived(CORPUS / "images")
    with open(OUT / "derived_cases.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["defect", "strength", "check", "status", "measured", "other_failing"])
        w.writerows(rows)
    for r in rows:
        print(*r, sep="\t")

    steps, etable = exposure_steps(CORPUS / "images")
    _write(OUT / "exposure_steps.csv", ["portrait", "mode", "gain", "status", "code", "face_mean", "backdrop_dl"], steps)
    _write(OUT / "exposure_table.csv", ["mode", "gain", "defect", "cases", "pass", "warn", "fail", "caught",
                                        "missed", "false_alarms"], etable)
    for r in etable:
        print(*r, sep="\t")
    eyes = eyes_cases(CORPUS)
    _write(OUT / "eyes_cases.csv", ["image", "manifest / case", "left_ear", "right_ear", "joint_ear", "own_fit",
                                    "status", "eye_named", "message_zh"], eyes)
    for r in eyes:
        if r[1] != "open" or r[6] != "pass" or r[5] != "both":
            print(*r[:8], sep="\t")
    pose, summary, pitch = pose_table(CORPUS)
    _write(OUT / "pose_table.csv", ["kind", "image", "frontal / case", "yaw", "pitch", "status", "code"],
           pose + summary + pitch)
    for r in summary + pitch:
        print(*r, sep="\t")


if __name__ == "__main__":
    main()
