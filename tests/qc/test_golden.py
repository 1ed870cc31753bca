"""Golden table: current measures of the golden set match ``golden/measures.csv``.

Numbers may move within a tolerance (2 % relative or a small absolute step per unit,
for float noise across library builds); statuses and text measures must match exactly.
Any other change is a change of a measure: regenerate the table on purpose
(``tools/calibration/make_golden.py``) and explain it in the commit.
"""
from __future__ import annotations

from tests.qc import golden  # noqa: E402
import pytest

ABS_TOL = {"sharpness": 25.0, "eye_line": 1.0, "head_top": 2.0, "face_width": 1.5, "eye_distance": 1.0,
           "horizontal_centre": 1.0, "side_margins": 2.0}


def _close(key: str, a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return a == b
    base = key.split(".")[0]
    tol = max(ABS_TOL.get(base, 0.06), 0.02 * max(abs(x), abs(y)))
    return abs(x - y) <= tol


@pytest.fixture(scope="module")
def current(corpus_dir):
    return golden.measure_all(corpus_dir)


def test_golden_table_matches(current):
    want = {(p, k): v for p, k, v in golden.read()}
    got = {(p, k): v for p, k, v in current}
    missing = sorted(set(want) - set(got))
    added = sorted(set(got) - set(want))
    changed = [(pk, want[pk], got[pk]) for pk in sorted(set(want) & set(got)) if not _close(pk[1], want[pk], got[pk])]
    assert (missing, added, changed) == ([], [], [])


def test_golden_table_covers_every_check():
    keys = {k.split(":")[0].split(".")[0] for _p, k, _v in golden.read()}
    from qc.checks import NAMES

    assert set(NAMES) <= keys
