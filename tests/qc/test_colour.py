"""CIEDE2000 against pairs from Sharma, Wu & Dalal (2005), table 1."""
from __future__ import annotations

import pytest

from qc.colour import delta_e2000, lab_to_rgb1, rgb_to_lab1


@pytest.mark.parametrize("lab1, lab2, want", [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
])
def test_delta_e2000_reference_pairs(lab1, lab2, want):
    assert float(delta_e2000(lab1, lab2)) == pytest.approx(want, abs=1e-4)
    assert float(delta_e2000(lab2, lab1)) == pytest.approx(want, abs=1e-4)


def test_lab_round_trip():
    assert lab_to_rgb1(rgb_to_lab1((100, 197, 255))) == (100, 197, 255)

