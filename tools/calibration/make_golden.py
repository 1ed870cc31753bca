"""Regenerate tests/qc/golden/measures.csv (run after an intended change of a measure).

    .venv/bin/python tools/calibration/make_golden.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

from tests.conftest import CORPUS  # noqa: E402

from tests.qc import golden  # noqa: E402

if __name__ == "__main__":
    rows = golden.measure_all(CORPUS / "images")
    golden.write(rows)
    print(f"wrote {len(rows)} rows to {golden.GOLDEN_CSV.relative_to(ROOT)}")
