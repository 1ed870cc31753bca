"""Real headless Chromium for the kiosk pages.

Debian's ``chromium`` package driven by Playwright with ``executable_path`` (never
``playwright install``: it downloads and fails offline).  A fake camera is a ``.y4m``
file given at launch (``--use-file-for-fake-video-capture``), so a test that needs a
different camera picture launches its own browser (≈ 1 s).
"""
from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("KIOSK_TEST_ARTIFACTS", ROOT / "test-artifacts"))

BASE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    for cand in (os.environ.get("KIOSK_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and Path(cand).exists():
            return cand
    return None


def launch_args(camera: str | os.PathLike | None = None) -> list[str]:
    args = list(BASE_FLAGS)
    if camera is not None:
        args += ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 f"--use-file-for-fake-video-capture={camera}"]
    return args


class LiveServer:
    """A Flask app served on 127.0.0.1 in a background thread (real HTTP, real sockets)."""

    def __init__(self, app):
        self.app = app
        self._srv = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self._srv.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._srv.shutdown()
        self._thread.join(timeout=10)


@contextmanager
def browser(playwright, camera=None, *, locale="zh-CN", viewport=(1366, 900)):
    """A fresh Chromium (optionally with a fake camera) and one page."""
    exe = chromium_path()
    b = playwright.chromium.launch(executable_path=exe, args=launch_args(camera), headless=True)
    try:
        ctx = b.new_context(locale=locale, viewport={"width": viewport[0], "height": viewport[1]})
        if camera is not None:
            ctx.grant_permissions(["camera"])
        page = ctx.new_page()
        page.set_default_timeout(20_000)
        yield page
        ctx.close()
    finally:
        b.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
