"""What the station keeps in memory, per capture session — all of it rebuildable.

* one :class:`capture.Guide` tracker per session (the live hints keep a little state
  between preview frames);
* the server-side camera of a session whose camera is an OpenCV device or a hot folder
  (:class:`ServerCamera`), opened on first use from ``CaptureSession.camera`` and never
  again once the session has ended here (a late preview request gets "no session");
* the last few annotated result images and refusal details, so the result view does not
  recompute them.

Nothing here is needed to resume: after a restart every piece is rebuilt from the
database on first use (a missing annotated image is drawn again from the stored photo).
"""
from __future__ import annotations

import atexit
import io
import logging
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any

log = logging.getLogger("kiosk.station")

PREVIEW_SIDE = 640          # px, longer side of the frames the guidance looks at
IDLE_CLOSE_SECONDS = 120.0  # a server camera nobody asked for this long is closed

# Server cameras whose reader thread is running.  The reader is a daemon thread that spends
# its time inside OpenCV with the GIL released; if the interpreter is still finalising
# when it comes back, CPython ends the thread from inside OpenCV's C++ frames and the
# process aborts ("terminate called without an active exception", exit 134) -- a clean
# shutdown of the web process, or the end of a test run, must stop the readers first.
_READING: weakref.WeakSet = weakref.WeakSet()


def _stop_readers() -> None:
    for cam in list(_READING):
        cam.close()


atexit.register(_stop_readers)


def _jpeg(rgb, quality: int = 90, max_side: int | None = None) -> bytes:
    from PIL import Image  # noqa: PLC0415

    im = Image.fromarray(rgb)
    if max_side and max(im.size) > max_side:
        s = max_side / float(max(im.size))
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


class ServerCamera:
    """A camera on the station's computer, read by the server.

    ``opencv``: a reader thread keeps the newest frame (a camera must be drained, or
    ``read`` returns stale buffered frames); a video file loops.  ``hotfolder``: no
    thread; :meth:`next_file` polls the folder and returns a newly completed file.
    """

    def __init__(self, config: dict[str, Any], *, settle_seconds: float | None = None):
        from capture import make_source  # noqa: PLC0415

        cfg = dict(config)
        if cfg.get("kind") == "hotfolder" and settle_seconds is not None:
            cfg["settle_seconds"] = float(settle_seconds)
        self.kind = cfg["kind"]
        self.config = cfg
        self.source = make_source(cfg)
        self.error: dict[str, Any] | None = None
        self.last_file: str | None = None
        self._lock = threading.Lock()
        self._latest = None      # numpy RGB frame
        self._latest_at = 0.0
        self._used = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        self.source.open()
        if self.kind == "opencv":
            self._thread = threading.Thread(target=self._pump, name="station-camera", daemon=True)
            _READING.add(self)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        _READING.discard(self)
        try:
            self.source.close()
        except Exception:  # noqa: BLE001 - closing must not fail a request
            log.exception("closing the station camera")

    @property
    def idle(self) -> bool:
        return time.monotonic() - self._used > IDLE_CLOSE_SECONDS

    def _pump(self) -> None:
        from capture import SourceError  # noqa: PLC0415

        is_file = getattr(self.source, "_is_file", False)
        period = 1.0 / 30.0
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                fr = self.source.read()
            except SourceError as e:
                self.error = {"code": e.code, "message": e.message_zh}
                time.sleep(0.5)
                continue
            if fr is None:
                if is_file:  # a video file: start again
                    try:
                        self.source.close()
                        self.source.open()
                    except SourceError as e:
                        self.error = {"code": e.code, "message": e.message_zh}
                        time.sleep(0.5)
                else:
                    time.sleep(0.02)
                continue
            with self._lock:
                self._latest = fr.rgb
                self._latest_at = time.time()
            self.error = None
            if is_file or self.idle:
                time.sleep(max(0.0, period - (time.monotonic() - t0)) + (0.2 if self.idle else 0.0))

    # ------------------------------------------------------------------ frames
    def latest(self, wait: float = 2.0):
        """The newest frame (``(H, W, 3)`` RGB) or ``None``, waiting up to ``wait`` s for the first."""
        self._used = time.monotonic()
        end = time.monotonic() + wait
        while True:
            with self._lock:
                if self._latest is not None:
                    return self._latest
            if time.monotonic() >= end:
                return None
            time.sleep(0.02)

    def preview_jpeg(self) -> bytes | None:
        rgb = self.latest()
        return None if rgb is None else _jpeg(rgb, 80, PREVIEW_SIDE)

    def grab_jpeg(self) -> bytes | None:
        """The newest full-resolution frame as a high-quality JPEG (what gets stored)."""
        rgb = self.latest()
        return None if rgb is None else _jpeg(rgb, 95)

    def next_file(self):
        """Hot folder: a newly completed file (``Frame`` with the bytes), or ``None``."""
        self._used = time.monotonic()
        fr = self.source.read()
        if fr is not None:
            self.last_file = fr.name
        return fr

    def problems(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in getattr(self.source, "problems", [])[-5:]]


class SessionEnded(LookupError):
    """A camera was asked for a capture session this process has already let go of."""


class StationRuntime:
    """Per-process registry (``app.extensions["station_runtime"]``)."""

    #: Ended session ids remembered (a session id is never reused, so this only bounds memory).
    ENDED_KEPT = 4096

    def __init__(self, cache_size: int = 64):
        self._lock = threading.Lock()
        self._guides: dict[int, tuple[Any, threading.Lock]] = {}
        self._cameras: dict[int, ServerCamera] = {}
        # Sessions forgotten because they ended.  A request that read its session just
        # before the session ended (a preview poll, say) must not open the camera again
        # after :meth:`forget`: the device would stay held by an ended session until the
        # next sweep, and the next session on that station could not open it.
        self._ended: OrderedDict[int, None] = OrderedDict()
        self._cache: OrderedDict[tuple[int, str], Any] = OrderedDict()
        self._cache_size = cache_size

    # guidance
    def guide(self, session_id: int, template) -> tuple[Any, threading.Lock]:
        from capture import Guide  # noqa: PLC0415

        with self._lock:
            g = self._guides.get(session_id)
            if g is None:
                g = (Guide(template), threading.Lock())
                self._guides[session_id] = g
            return g

    # server cameras
    def camera(self, session_id: int, config: dict[str, Any], **kw) -> ServerCamera:
        """The open server camera of a session (opened on first use; ``SourceError`` if it
        cannot, :class:`SessionEnded` once the session has been forgotten)."""
        with self._lock:
            if session_id in self._ended:
                raise SessionEnded(session_id)
            cam = self._cameras.get(session_id)
            if cam is not None and cam.config.get("kind") == config.get("kind"):
                return cam
            self._sweep_locked()
        cam = ServerCamera(config, **kw)
        cam.open()
        with self._lock:
            ended = session_id in self._ended        # forgotten while the device was opening
            old = None
            if not ended:
                old = self._cameras.pop(session_id, None)
                self._cameras[session_id] = cam
        if ended:
            cam.close()
            raise SessionEnded(session_id)
        if old is not None:
            old.close()
        return cam

    def forget(self, session_id: int, *, ended: bool = True) -> None:
        """Close a session's camera and drop its guide.  ``ended`` (the session was ended
        here): also refuse to open a camera for it again."""
        with self._lock:
            self._guides.pop(session_id, None)
            cam = self._cameras.pop(session_id, None)
            if ended:
                self._ended[session_id] = None
                self._ended.move_to_end(session_id)
                while len(self._ended) > self.ENDED_KEPT:
                    self._ended.popitem(last=False)
        if cam is not None:
            cam.close()

    def retain(self, open_ids: set[int]) -> None:
        """Forget every session not in ``open_ids`` (a device must be free for the next session)."""
        with self._lock:
            gone = [sid for sid in set(self._cameras) | set(self._guides) if sid not in open_ids]
        for sid in gone:
            # Not marked ended: ``open_ids`` was read before this call, and a session
            # that started since then must still be able to open its camera.
            self.forget(sid, ended=False)

    def _sweep_locked(self) -> None:
        for sid in [s for s, c in self._cameras.items() if c.idle]:
            self._cameras.pop(sid).close()

    def close_all(self) -> None:
        with self._lock:
            cams = list(self._cameras.values())
            self._cameras.clear()
            self._guides.clear()
        for c in cams:
            c.close()

    # small cache: annotated PNGs and refusal details per photo
    def remember(self, photo_id: int, kind: str, value: Any) -> None:
        with self._lock:
            self._cache[(photo_id, kind)] = value
            self._cache.move_to_end((photo_id, kind))
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def recall(self, photo_id: int, kind: str) -> Any:
        with self._lock:
            return self._cache.get((photo_id, kind))


def get_runtime(app) -> StationRuntime:
    rt = app.extensions.get("station_runtime")
    if rt is None:
        rt = app.extensions.setdefault("station_runtime", StationRuntime())
    return rt
