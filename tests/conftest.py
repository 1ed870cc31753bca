"""Fixtures shared by every test package."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _find_corpus() -> Path:
    """The shared real-photo corpus: $KIOSK_CORPUS, ../shared/corpus, or /work/shared/corpus."""
    for cand in (os.environ.get("KIOSK_CORPUS"), ROOT.parent / "shared" / "corpus", "/work/shared/corpus"):
        if cand and (Path(cand) / "MANIFEST.csv").is_file():
            return Path(cand)
    return Path(os.environ.get("KIOSK_CORPUS") or ROOT.parent / "shared" / "corpus")


CORPUS = _find_corpus()


def require_or_skip(reason: str) -> None:
    """Skip with ``reason`` — or fail when ``KIOSK_REQUIRE_ALL=1`` (CI), so infrastructure
    the suite needs (browser, PostgreSQL) cannot silently go missing there."""
    if os.environ.get("KIOSK_REQUIRE_ALL") == "1":
        pytest.fail(f"required for CI but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def corpus_available() -> bool:
    return (CORPUS / "MANIFEST.csv").is_file()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not corpus_available():
        pytest.skip(f"real-photo corpus not found at {CORPUS} (set KIOSK_CORPUS)")
    return CORPUS / "images"


@pytest.fixture(scope="session")
def corpus_manifest() -> list[dict[str, str]]:
    if not corpus_available():
        pytest.skip(f"real-photo corpus not found at {CORPUS} (set KIOSK_CORPUS)")
    with open(CORPUS / "MANIFEST.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def astronaut_path() -> Path:
    skdata = pytest.importorskip("skimage.data")
    return Path(skdata.data_dir) / "astronaut.png"


@pytest.fixture(scope="session")
def grace_hopper_path() -> Path:
    cbook = pytest.importorskip("matplotlib.cbook")
    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


# ---------------------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def playwright_instance():
    """Playwright driving Debian's Chromium; skipped (or failed under KIOSK_REQUIRE_ALL)
    when either is missing."""
    from .browser import chromium_path

    if chromium_path() is None:
        require_or_skip("Chromium is not installed (Debian package `chromium`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_or_skip("playwright is not installed")
    with sync_playwright() as p:
        yield p
