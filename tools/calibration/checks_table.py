"""Per-check calibration tables: the corpus against its human judgements, and derived
cases that break one rule at a time at graded strengths.

Writes:
  out/corpus_measures.csv  every corpus image: manifest columns + each check's status/measure
  out/corpus_checks.csv    per check with a manifest column: cases, defective (per the
                           manifest), caught (warn/fail on defective), missed, false alarms
                           (warn/fail on good), correct
  out/derived_cases.csv    defect, strength, target check, its status and measure, other
                           failing checks

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


if __name__ == "__main__":
    main()
