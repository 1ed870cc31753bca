"""Identity calibration for ``identity_match`` (issue 8): genuine / impostor distances.

Encodes every corpus face with a known identity (single-face photos; the 150×150 chips
padded by reflection so HOG finds them; the Obama/Biden composite split by x order),
then pairs them:

  genuine   same person, different photographs (same-shot copies — crops, re-encodes,
            mirrors listed in the corpus README — are reported apart as ``same_shot``)
  impostor  different people; the README's look-alike pairs are flagged ``lookalike``

Writes ``out/identity_pairs.csv`` (every pair) and ``out/identity_table.csv`` (counts,
FMR and FNMR at candidate thresholds, and the chosen pass/warn limits).

    .venv/bin/python tools/calibration/identity.py
"""
from __future__ import annotations

import csv
import itertools
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

import numpy as np  # noqa: E402

OUT = Path(__file__).parent / "out"
SAME_SHOT = [{"musk_crop.jpg", "musk_halfbody.jpg"},
             {"obama_portrait.jpg", "obama_portrait_240p_letterbox.jpg", "obama_partial_face.jpg"},
             {"obama_speech.jpg", "obama_speech_rgba.png"},
             {"jolie_white_bg.jpg", "jolie_white_bg_mirrored.jpg"},
             {"obama_fullbody.jpg", "obama_biden_two_people.jpg#0"},
             {"biden_fullbody.jpg", "obama_biden_two_people.jpg#1"}]
LOOKALIKE = [{"damon", "schneider"}, {"yale01", "yale03"}]
THRESHOLDS = [0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65]


def faces_with_identity(corpus: Path):
    import cv2

    import qc
    from qc.context import PhotoContext
    from qc.runner import make_context

    prof = qc.load_profile()
    rows = list(csv.DictReader(open(corpus / "MANIFEST.csv", encoding="utf-8")))
    out = []
    for r in rows:
        f, person = r["file"], r["person"]
        if person.startswith("synthetic") or person in ("none", "unknown"):
            continue
        path = corpus / "images" / f
        if r["faces"] == "1":
            ctx = make_context(path, prof)
            if f.endswith(("_chip_1.jpg", "_chip_2.jpg")):
                rgb = cv2.copyMakeBorder(ctx.rgb, 75, 75, 75, 75, cv2.BORDER_REFLECT)
                ctx = PhotoContext(rgb, detection=prof.detection)
            if ctx.face is not None:
                out.append((f, person, ctx.encoding))
        elif f == "obama_biden_two_people.jpg":
            ctx = make_context(path, prof)
            from qc import faces as fz

            fs = sorted(ctx.faces, key=lambda x: x.box.left)
            for i, (face, who) in enumerate(zip(fs, ("obama", "biden"))):
                out.append((f"{f}#{i}", who, fz.encode(ctx.rgb, face)))
    return out


def main() -> None:
    from tests.conftest import CORPUS

    from qc.faces import distances

    faces = faces_with_identity(CORPUS)
    pairs = []
    for (fa, pa, ea), (fb, pb, eb) in itertools.combinations(faces, 2):
        d = float(distances(ea, eb)[0])
        if pa == pb:
            kind = "same_shot" if any({fa, fb} <= s for s in SAME_SHOT) else "genuine"
        else:
            kind = "impostor_lookalike" if {pa, pb} in LOOKALIKE else "impostor"
        pairs.append((fa, fb, pa, pb, kind, round(d, 4)))
    OUT.mkdir(exist_ok=True)
    with open(OUT / "identity_pairs.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file_a", "file_b", "person_a", "person_b", "kind", "distance"])
        w.writerows(sorted(pairs, key=lambda p: (p[4], p[5])))
    gen = np.array([p[5] for p in pairs if p[4] == "genuine"])
    imp = np.array([p[5] for p in pairs if p[4].startswith("impostor")])
    look = np.array([p[5] for p in pairs if p[4] == "impostor_lookalike"])
    same = np.array([p[5] for p in pairs if p[4] == "same_shot"])
    rows = [["faces", len(faces)], ["identities", len({p for _f, p, _e in faces})],
            ["genuine_pairs", len(gen)], ["impostor_pairs", len(imp)], ["lookalike_pairs", len(look)],
            ["same_shot_pairs", len(same)],
            ["genuine_median", round(float(np.median(gen)), 3)], ["genuine_max", round(float(gen.max()), 3)],
            ["impostor_min", round(float(imp.min()), 3)], ["impostor_median", round(float(np.median(imp)), 3)],
            ["lookalike_min", round(float(look.min()), 3) if len(look) else ""],
            ["same_shot_max", round(float(same.max()), 3) if len(same) else ""]]
    table = [["threshold", "FMR (impostor <= t)", "FNMR (genuine > t)", "lookalike FMR"]]
    for t in THRESHOLDS:
        table.append([t, f"{(imp <= t).mean():.4f}", f"{(gen > t).mean():.4f}",
                      f"{(look <= t).mean():.4f}" if len(look) else ""])
    import qc

    t = qc.load_profile().thresholds("identity_match")
    from kiosk.services.duplicates import FACE_MAX

    chosen = [["chosen", "profile value", "FMR", "FNMR"],
              ["pass_max (match)", t.pass_max, f"{(imp <= t.pass_max).mean():.4f}", f"{(gen > t.pass_max).mean():.4f}"],
              ["warn_max (above: fail)", t.warn_max, f"{(imp <= t.warn_max).mean():.4f}", f"{(gen > t.warn_max).mean():.4f}"],
              ["duplicate search FACE_MAX (kiosk.services.duplicates)", FACE_MAX, f"{(imp <= FACE_MAX).mean():.4f}",
               f"{(gen > FACE_MAX).mean():.4f}"],
              ["  same-shot pairs caught at FACE_MAX", "", "", f"{(same <= FACE_MAX).mean():.4f}"],
              ["  look-alike pairs matched at FACE_MAX", "", f"{(look <= FACE_MAX).mean():.4f}", ""]]
    with open(OUT / "identity_table.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["summary", "value"])
        w.writerows(rows)
        w.writerow([])
        w.writerows(table)
        w.writerow([])
        w.writerows(chosen)
    for r in chosen:
        print(*r, sep="\t")
    for r in rows:
        print(*r)
    for r in table:
        print(*r, sep="\t")


if __name__ == "__main__":
    main()
