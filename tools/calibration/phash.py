"""pHash calibration for near-duplicate files (issue 8): same photograph vs different photographs.

For every corpus photo with exactly one face of a known person (the 150×150 chips padded
by reflection, as in ``identity.py``) the face hash (:func:`qc.phash.face_phash`) and, for
comparison, the whole-image hash (:func:`qc.phash.image_phash`) are computed, then for
copies of the same photograph made the ways a file gets copied:

  reencode_q50/q75   JPEG re-encoded at quality 50 / 75
  half / x1.5        rescaled to 0.5× / 1.5× (INTER_AREA / INTER_CUBIC), JPEG q90
  crop90             the central 90 % (a tighter crop), JPEG q90
  spec               framed to a 480×640 spec photo (eye line and face width set, eyes levelled)
  spec_q60_small     the spec photo scaled to 0.8×, back to 480×640, JPEG q60
  mirrored           flipped left–right (the hash comparison also tries the mirror)

and the corpus README's "same photograph submitted twice" pairs.  Pairs:

  same_photo      a photo and one of its copies, or a README same-shot pair
  same_person     different photographs of the same person
  different       different people

The hardest case for a face hash in the product is two *different* students on the same
backdrop, framed the same way: every portrait on a plain backdrop is also composed as a
spec photo on the light-blue backdrop (``tests.qc.fixtures.make_spec_photo``) and these
are paired among themselves (copy ``spec_blue``).

Writes ``out/phash_pairs.csv`` (every pair with the face-hash and whole-image-hash
distances in bits) and ``out/phash_table.csv`` (counts, distributions, detection rate of
same-photo pairs and false-alarm rate of different photographs at candidate limits, and
the chosen limit of :data:`kiosk.services.duplicates.PHASH_MAX_BITS`).

    .venv/bin/python tools/calibration/phash.py
"""
from __future__ import annotations

import csv
import io
import itertools
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

import numpy as np  # noqa: E402

import identity  # noqa: E402  (tools/calibration/identity.py, next to this script)

OUT = Path(__file__).parent / "out"
# The corpus files that are one shot (identity.py's table), single-face files only.
SAME_SHOT = [g for g in identity.SAME_SHOT if not any("#" in f for f in g)]
LIMITS = [4, 6, 8, 10, 12, 14, 16, 18, 20]


def _jpeg(rgb: np.ndarray, q: int = 90) -> bytes:
    from PIL import Image

    b = io.BytesIO()
    Image.fromarray(rgb).save(b, "JPEG", quality=q)
    return b.getvalue()


def _derived(rgb: np.ndarray, path: Path, tmp: Path) -> dict[str, bytes]:
    import cv2

    from tests.qc.fixtures import spec_crop

    h, w = rgb.shape[:2]
    out = {"reencode_q50": _jpeg(rgb, 50), "reencode_q75": _jpeg(rgb, 75),
           "half": _jpeg(cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)),
           "x1.5": _jpeg(cv2.resize(rgb, (w * 3 // 2, h * 3 // 2), interpolation=cv2.INTER_CUBIC)),
           "crop90": _jpeg(rgb[h // 20: h - h // 20, w // 20: w - w // 20]),
           "mirrored": _jpeg(np.ascontiguousarray(rgb[:, ::-1]))}
    src = tmp / ("src" + path.suffix)
    src.write_bytes(_jpeg(rgb, 95))
    try:
        spec = spec_crop(src)
    except ValueError:
        return out
    out["spec"] = spec
    from PIL import Image

    im = np.asarray(Image.open(io.BytesIO(spec)).convert("RGB"))
    small = cv2.resize(im, (384, 512), interpolation=cv2.INTER_AREA)
    out["spec_q60_small"] = _jpeg(cv2.resize(small, (480, 640), interpolation=cv2.INTER_CUBIC), 60)
    return out


def _hashes(source, prof):
    """``(face_hash, image_hash, rgb)`` or ``None`` when there is not exactly one face."""
    from qc.context import PhotoContext
    from qc.phash import face_phash, image_phash
    from qc.runner import make_context

    ctx = source if isinstance(source, PhotoContext) else make_context(source, prof)
    if ctx.decode_error is not None or ctx.face is None:
        return None
    return face_phash(ctx.rgb, ctx.face), image_phash(ctx.rgb), ctx.rgb


def collect(corpus: Path):
    import cv2

    import qc
    from qc.context import PhotoContext
    from qc.runner import make_context

    prof = qc.load_profile()
    rows = list(csv.DictReader(open(corpus / "MANIFEST.csv", encoding="utf-8")))
    items = []      # (label, photo_id, person, face_hash, image_hash)
    copies = []     # (label, source_label, how, face_hash, image_hash)
    blues = []      # spec photos on the blue backdrop, like items
    from tests.qc.fixtures import make_spec_photo
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for r in rows:
            f, person = r["file"], r["person"]
            if r["faces"] != "1" or person.startswith("synthetic") or person in ("none", "unknown"):
                continue
            path = corpus / "images" / f
            ctx = make_context(path, prof)
            if f.endswith(("_chip_1.jpg", "_chip_2.jpg")):
                ctx = PhotoContext(cv2.copyMakeBorder(ctx.rgb, 75, 75, 75, 75, cv2.BORDER_REFLECT),
                                   detection=prof.detection)
            got = _hashes(ctx, prof)
            if got is None:
                continue
            fh, ih, rgb = got
            shot = next((min(s) for s in SAME_SHOT if f in s), f)
            items.append((f, shot, person, fh, ih))
            if r["background"].startswith("plain") and r["frontal"] == "yes" and "chip" not in f:
                try:
                    blue = _hashes(make_spec_photo(path), prof)
                except ValueError:
                    blue = None
                if blue is not None:
                    blues.append((f, shot, person, blue[0], blue[1]))
            for how, data in _derived(rgb, path, tmp).items():
                d = _hashes(data, prof)
                if d is not None:
                    copies.append((f"{f}~{how}", f, how, d[0], d[1]))
    return items, copies, blues


def main() -> None:
    from kiosk.services.duplicates import PHASH_MAX_BITS
    from qc.phash import hamming
    from tests.conftest import CORPUS

    items, copies, blues = collect(CORPUS)
    pairs = []
    for group, tag in ((items, ""), (blues, "spec_blue")):
        for (fa, sa, pa, fha, iha), (fb, sb, pb, fhb, ihb) in itertools.combinations(group, 2):
            kind = "same_photo" if sa == sb else ("same_person" if pa == pb else "different")
            how = "corpus_same_shot" if sa == sb else ""
            how = "+".join(x for x in (how, tag) if x)
            pairs.append((fa, fb, kind, how, hamming(fha, fhb), hamming(iha, ihb)))
    by_name = {f: (fh, ih) for f, _s, _p, fh, ih in items}
    for label, src, how, fh, ih in copies:
        sfh, sih = by_name[src]
        pairs.append((src, label, "same_photo", how, hamming(sfh, fh), hamming(sih, ih)))
    OUT.mkdir(exist_ok=True)
    with open(OUT / "phash_pairs.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file_a", "file_b", "kind", "copy", "face_bits", "image_bits"])
        w.writerows(sorted(pairs, key=lambda p: (p[2], p[4], p[0], p[1])))

    def arr(kind, col):
        return np.array([p[col] for p in pairs if p[2] == kind])

    rows = [["photos", len(items)], ["copies", len(copies)], ["spec_blue photos", len(blues)]]
    for kind in ("same_photo", "same_person", "different"):
        fa = arr(kind, 4)
        ia = arr(kind, 5)
        rows += [[f"{kind}_pairs", len(fa)],
                 [f"{kind}_face_bits_min/median/max", f"{fa.min()}/{np.median(fa):g}/{fa.max()}"],
                 [f"{kind}_image_bits_min/median/max", f"{ia.min()}/{np.median(ia):g}/{ia.max()}"]]
    same_f, same_i = arr("same_photo", 4), arr("same_photo", 5)
    pers_f = arr("same_person", 4)
    diff_f, diff_i = arr("different", 4), arr("different", 5)
    table = [["limit (bits <=)", "face hash: same photo caught", "face hash: different people flagged",
              "face hash: same person other photo flagged", "whole image: same photo caught",
              "whole image: different people flagged"]]
    for t in LIMITS:
        table.append([t, f"{(same_f <= t).mean():.4f}", f"{(diff_f <= t).mean():.4f}", f"{(pers_f <= t).mean():.4f}",
                      f"{(same_i <= t).mean():.4f}", f"{(diff_i <= t).mean():.4f}"])
    blue_diff = np.array([p[4] for p in pairs if p[2] == "different" and "spec_blue" in p[3]])
    rows.append(["different_spec_blue_face_bits_min/median/max",
                 f"{blue_diff.min()}/{np.median(blue_diff):g}/{blue_diff.max()}" if len(blue_diff) else ""])
    missed = sorted((p for p in pairs if p[2] == "same_photo" and p[4] > PHASH_MAX_BITS), key=lambda p: -p[4])
    flagged = [p for p in pairs if p[2] != "same_photo" and p[4] <= PHASH_MAX_BITS]
    chosen = [["chosen", "bits", "same photo caught", "different people flagged", "same person other photo flagged",
               "missed same-photo pairs", "flagged other pairs"],
              ["PHASH_MAX_BITS (face hash)", PHASH_MAX_BITS, f"{(same_f <= PHASH_MAX_BITS).mean():.4f}",
               f"{(diff_f <= PHASH_MAX_BITS).mean():.4f}", f"{(pers_f <= PHASH_MAX_BITS).mean():.4f}",
               "; ".join(f"{p[0]}|{p[1]}={p[4]}" for p in missed) or "none",
               "; ".join(f"{p[0]}|{p[1]}={p[4]}" for p in flagged) or "none"]]
    with open(OUT / "phash_table.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["summary", "value"])
        w.writerows(rows)
        w.writerow([])
        w.writerows(table)
        w.writerow([])
        w.writerows(chosen)
    for r in rows + [[]] + table + [[]] + chosen:
        print(*r, sep="\t")


if __name__ == "__main__":
    main()
