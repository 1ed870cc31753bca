"""The golden set: real photos made into 480×640 spec crops deterministically, and
their measured values, flattened to ``(photo, key, value)`` rows.

``key`` is ``<check>`` or ``<check>.<field>`` for dict measures, plus ``<check>:status``.
Regenerate ``golden/measures.csv`` with ``python tools/calibration/make_golden.py`` after
an intended change, and say why in the commit.
"""
from __future__ import annotations

import csv
from pathlib import Path

from tests.qc import fixtures as fx

GOLDEN_CSV = Path(__file__).parent / "golden" / "measures.csv"

#: Corpus portraits (single frontal-ish face, enough room for a crop) and the crop
#: geometry; plus the composed clean photo.
PHOTOS = [
    ("frll_009_neutral_front.jpg", 240, 262),
    ("damon_plain_1.jpg", 240, 262),
    ("damon_plain_3.jpg", 230, 262),
    ("jolie_white_bg.jpg", 240, 262),
    ("dorsey_plain.jpg", 240, 262),
    ("lacamoire_grey_studio.jpg", 240, 262),
    ("zuckerberg_white.jpg", 240, 262),
    ("musk_halfbody.jpg", 240, 262),
    ("pichai_blue_bg.jpg", 240, 262),
    ("aniston_blue_bg.jpg", 240, 262),
    ("obama_portrait.jpg", 240, 262),
    ("jobs_portrait.jpg", 240, 262),
]


def photo_bytes(corpus_dir: Path) -> dict[str, bytes]:
    out = {name: fx.spec_crop(corpus_dir / name, face_width=fw, eye_y=ey) for name, fw, ey in PHOTOS}
    out["composed_frll_blue.jpg"] = fx.make_spec_photo(corpus_dir / "frll_009_neutral_front.jpg")
    return out


def rows_for(name: str, report) -> list[tuple[str, str, str]]:
    rows = []
    for c in report.checks:
        rows.append((name, f"{c.check}:status", c.status.value))
        m = c.measured
        if isinstance(m, dict):
            for k, v in m.items():
                rows.append((name, f"{c.check}.{k}", "" if v is None else str(v)))
        elif m is not None:
            rows.append((name, c.check, str(m)))
    return rows


def measure_all(corpus_dir: Path) -> list[tuple[str, str, str]]:
    import qc

    rows = []
    for name, data in photo_bytes(corpus_dir).items():
        rows += rows_for(name, qc.check_photo(data, name=name))
    return rows


def write(rows, path: Path = GOLDEN_CSV) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["photo", "key", "value"])
        w.writerows(rows)


def read(path: Path = GOLDEN_CSV) -> list[tuple[str, str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        next(r)
        return [tuple(row) for row in r]
