"""Fixtures for the capture tests (helpers live in ``capture_helpers.py``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.capture.capture_helpers import widened


@pytest.fixture(scope="session")
def portrait(corpus_dir):
    """``portrait(name) -> Path`` of a corpus image."""
    def get(name: str) -> Path:
        p = corpus_dir / name
        if not p.is_file():
            pytest.skip(f"corpus file {name} missing")
        return p
    return get


@pytest.fixture(scope="session")
def frll(portrait) -> Path:
    return portrait("frll_009_neutral_front.jpg")


@pytest.fixture(scope="session")
def frll_wide(frll) -> np.ndarray:
    return widened(frll)
