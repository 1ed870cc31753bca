"""Session-scoped QC fixtures: the clean spec photo, its report, and the defect reports.

Everything expensive (face models, cut-outs, reports) is built once per session.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.qc import fixtures as fx


@pytest.fixture(scope="session")
def frll_path(corpus_dir) -> Path:
    return corpus_dir / "frll_009_neutral_front.jpg"


@pytest.fixture(scope="session")
def profile():
    import qc

    return qc.load_profile("chsi_xueli_v1")


@pytest.fixture(scope="session")
def clean_photo(frll_path) -> bytes:
    return fx.make_spec_photo(frll_path)


@pytest.fixture(scope="session")
def clean_report(clean_photo):
    import qc

    return qc.check_photo(clean_photo, name="clean.jpg")


@pytest.fixture(scope="session")
def corpus_ctx(corpus_dir, profile):
    """``name -> PhotoContext`` of corpus images, built on first use and kept."""
    from qc.runner import make_context

    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = make_context(corpus_dir / name, profile)
        return cache[name]

    return get
