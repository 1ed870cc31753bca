"""Capture sources behind one small protocol, chosen by configuration.

Every source has ``open()``, ``read() -> Frame | None`` (never blocks for long: ``None``
means "nothing new yet" or "the end") and ``close()``, and works as a context manager.
:func:`make_source` builds one from a plain mapping — the kiosk's station settings::

    {"kind": "opencv", "device": 0, "width": 1280, "height": 720}
    {"kind": "hotfolder", "path": "/srv/drop"}
    {"kind": "browser"}
    {"kind": "file", "path": "photo.jpg"}
    {"kind": "synthetic", "path": "portrait.y4m", "loop": true}

Unknown kinds and unknown or mistyped keys raise :class:`~capture.errors.SourceError`
(``unknown_kind`` / ``bad_config``) naming the key.  The registry is the explicit
:data:`SOURCE_KINDS` mapping.  Only :mod:`capture.devices` opens OpenCV devices.
"""
from __future__ import annotations

import base64
import binascii
import io
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol, runtime_checkable

import numpy as np

from .errors import SourceError
from .frames import Frame, sniff_format

__all__ = ["Source", "BaseSource", "FileSource", "SyntheticSource", "BrowserSource", "SOURCE_KINDS",
           "make_source", "open_source", "Frame"]

_REQUIRED = object()


@runtime_checkable
class Source(Protocol):
    """What the kiosk needs from any camera-like thing."""

    name: str

    def open(self) -> None:
        """Acquire the device/folder; raises :class:`SourceError` when it cannot."""

    def read(self) -> Frame | None:
        """The next frame, or ``None`` when there is nothing (yet, or any more)."""

    def close(self) -> None:
        """Release everything; safe to call twice."""


class BaseSource:
    """Shared plumbing: config parsing, context manager, :meth:`wait`, :meth:`frames`.

    Subclasses declare ``KIND`` and ``CONFIG`` (key → ``(types, default)``; a default of
    ``_REQUIRED`` makes the key mandatory) and implement ``_open``/``_read``/``_close``.
    """

    KIND = ""
    CONFIG: dict[str, tuple[tuple[type, ...], Any]] = {}

    def __init__(self) -> None:
        self.name = self.KIND
        self._is_open = False
        self._index = 0
        self._lock = threading.RLock()

    # -- configuration
    @classmethod
    def parse_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``config`` (without ``kind``) against :attr:`CONFIG`; fill defaults."""
        out: dict[str, Any] = {}
        for key, value in config.items():
            if key == "kind":
                continue
            if key not in cls.CONFIG:
                raise SourceError("bad_config", f"摄像源 {cls.KIND} 的配置项未知：{key}",
                                  f"unknown key {key!r} for source kind {cls.KIND!r}", details={"key": key})
            types, _ = cls.CONFIG[key]
            if value is not None and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
                names = "/".join(t.__name__ for t in types)
                raise SourceError("bad_config", f"配置项 {key} 类型错误（应为 {names}）",
                                  f"key {key!r} must be {names}, got {type(value).__name__}", details={"key": key})
            out[key] = value
        for key, (_, default) in cls.CONFIG.items():
            if key not in out:
                if default is _REQUIRED:
                    raise SourceError("bad_config", f"缺少配置项：{key}", f"missing key {key!r} for source kind {cls.KIND!r}",
                                      details={"key": key})
                out[key] = default
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "BaseSource":
        return cls(**cls.parse_config(config))

    # -- lifecycle
    @property
    def is_open(self) -> bool:
        return self._is_open

    def open(self) -> None:
        with self._lock:
            if not self._is_open:
                self._open()
                self._is_open = True

    def read(self) -> Frame | None:
        with self._lock:
            if not self._is_open:
                raise SourceError("closed", "摄像源未打开", f"source {self.name} is not open")
            fr = self._read()
            if fr is not None:
                self._index += 1
            return fr

    def close(self) -> None:
        with self._lock:
            if self._is_open:
                self._is_open = False
                self._close()

    def _open(self) -> None:  # pragma: no cover - trivial default
        pass

    def _read(self) -> Frame | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _close(self) -> None:  # pragma: no cover - trivial default
        pass

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- helpers
    def wait(self, timeout: float, poll: float = 0.05) -> Frame | None:
        """Call :meth:`read` until a frame arrives or ``timeout`` seconds pass."""
        end = time.monotonic() + timeout
        while True:
            fr = self.read()
            if fr is not None or time.monotonic() >= end:
                return fr
            time.sleep(poll)

    def frames(self, limit: int | None = None) -> Iterator[Frame]:
        """Yield frames until :meth:`read` returns ``None`` (or ``limit`` frames)."""
        n = 0
        while limit is None or n < limit:
            fr = self.read()
            if fr is None:
                return
            n += 1
            yield fr

    def _frame(self, *, rgb: np.ndarray | None = None, data: bytes | None = None, name: str | None = None,
               timestamp: float | None = None, **meta: Any) -> Frame:
        return Frame(source=self.name, timestamp=time.time() if timestamp is None else timestamp, rgb=rgb,
                     data=data, name=name, index=self._index, meta=meta)


# ---------------------------------------------------------------------- file
class FileSource(BaseSource):
    """One image file, returned as its encoded bytes (once, or every read with ``loop``)."""

    KIND = "file"
    CONFIG = {"path": ((str, os.PathLike), _REQUIRED), "loop": ((bool,), False)}

    def __init__(self, path: str | os.PathLike, loop: bool = False):
        super().__init__()
        self.path = Path(path)
        self.loop = loop
        self.name = f"file:{self.path}"
        self._done = False

    def _open(self) -> None:
        if not self.path.is_file():
            raise SourceError("not_found", f"文件不存在：{self.path}", f"no such file: {self.path}")
        self._done = False

    def _read(self) -> Frame | None:
        if self._done:
            return None
        try:
            data = self.path.read_bytes()
        except OSError as e:
            raise SourceError("not_found", f"无法读取文件：{self.path}", f"cannot read {self.path}: {e}") from None
        self._done = not self.loop
        return self._frame(data=data, name=self.path.name, path=str(self.path))


# ---------------------------------------------------------------------- synthetic
class SyntheticSource(BaseSource):
    """Plays frames from an image file or a ``.y4m`` (or from arrays given in code).

    Parameters
    ----------
    path : str | os.PathLike, optional
        An image (decoded once, EXIF applied) or a YUV4MPEG2 file.
    loop : bool
        Start again at the end (a still image then repeats forever).
    fps : float, optional
        Frame rate for the timestamps (default: the y4m header's, else 30); frames are
        returned immediately — the caller paces.
    encode : str, optional
        ``"jpeg"`` to return each frame as JPEG bytes (quality 92), as a browser posts them.
    frames : list of numpy.ndarray, optional
        ``(H, W, 3)`` uint8 frames to play instead of a file (not a config key).
    """

    KIND = "synthetic"
    CONFIG = {"path": ((str, os.PathLike), None), "loop": ((bool,), True), "fps": ((int, float), None),
              "encode": ((str,), None)}

    def __init__(self, path: str | os.PathLike | None = None, loop: bool = True, fps: float | None = None,
                 encode: str | None = None, frames: list[np.ndarray] | None = None):
        super().__init__()
        if path is None and frames is None:
            raise SourceError("bad_config", "合成摄像源需要 path", "synthetic source needs a path (or frames)",
                              details={"key": "path"})
        if encode not in (None, "jpeg"):
            raise SourceError("bad_config", "encode 只能是 jpeg", "encode must be 'jpeg' or absent", details={"key": "encode"})
        self.path = Path(path) if path is not None else None
        self.loop = loop
        self.fps = fps
        self.encode = encode
        self._arrays = [np.ascontiguousarray(f) for f in frames] if frames is not None else None
        self._reader = None
        self._still: np.ndarray | None = None
        self._pos = 0
        self._t0 = 0.0
        self.name = f"synthetic:{self.path}" if self.path is not None else "synthetic"

    def _open(self) -> None:
        self._pos = 0
        self._t0 = time.time()
        if self._arrays is not None:
            return
        assert self.path is not None
        if not self.path.is_file():
            raise SourceError("not_found", f"文件不存在：{self.path}", f"no such file: {self.path}")
        with open(self.path, "rb") as f:
            head = f.read(9)
        if head == b"YUV4MPEG2":
            from .y4m import Y4MError, Y4MReader  # noqa: PLC0415

            try:
                self._reader = Y4MReader(self.path)
            except Y4MError as e:
                raise SourceError("bad_format", f"y4m 文件无效：{e}", f"bad y4m file: {e}") from None
            if self.fps is None:
                n, d = self._reader.header.fps
                self.fps = n / d if d else 30.0
        else:
            from qc.context import DecodeError, decode  # noqa: PLC0415

            from ._pillow import strict_truncation  # noqa: PLC0415

            strict_truncation()
            try:
                self._still = decode(self.path.read_bytes())[1]
            except DecodeError as e:
                raise SourceError("undecodable", e.message_zh, e.message_en, details={"decode_code": e.code}) from None

    def _next_array(self) -> np.ndarray | None:
        if self._arrays is not None:
            if not self._arrays:
                return None
            if self._pos >= len(self._arrays):
                if not self.loop:
                    return None
                self._pos = 0
            return self._arrays[self._pos]
        if self._still is not None:
            if self._pos > 0 and not self.loop:
                return None
            return self._still
        assert self._reader is not None
        fr = self._reader.read()
        if fr is None and self.loop and self._pos > 0:
            self._reader.rewind()
            fr = self._reader.read()
        return fr

    def _read(self) -> Frame | None:
        a = self._next_array()
        if a is None:
            return None
        ts = self._t0 + self._index / float(self.fps or 30.0)
        self._pos += 1
        if self.encode == "jpeg":
            from PIL import Image  # noqa: PLC0415

            buf = io.BytesIO()
            Image.fromarray(a, "RGB").save(buf, format="JPEG", quality=92)
            return self._frame(data=buf.getvalue(), timestamp=ts, width=a.shape[1], height=a.shape[0])
        return self._frame(rgb=a.copy(), timestamp=ts, width=a.shape[1], height=a.shape[0])

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._still = None


# ---------------------------------------------------------------------- browser
class BrowserSource(BaseSource):
    """Frames posted by the kiosk page (``getUserMedia`` → canvas → JPEG/PNG → POST).

    The web view calls :meth:`push` with the request body; :meth:`read` returns the newest
    frame not read yet (older unread frames are dropped and counted in ``dropped``).

    Validation (each failure raises :class:`SourceError` with the code in brackets):
    empty body [``empty``], more than ``max_bytes`` [``too_large``], not JPEG/PNG by magic
    bytes [``bad_format``], more than ``max_pixels`` [``too_large``], smaller than
    ``min_width × min_height`` [``too_small``], not decodable or truncated [``undecodable``].
    """

    KIND = "browser"
    CONFIG = {"max_bytes": ((int,), 10_000_000), "max_pixels": ((int,), 40_000_000),
              "min_width": ((int,), 320), "min_height": ((int,), 240)}

    def __init__(self, max_bytes: int = 10_000_000, max_pixels: int = 40_000_000, min_width: int = 320,
                 min_height: int = 240):
        super().__init__()
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.min_width = min_width
        self.min_height = min_height
        self.name = "browser"
        self._latest: Frame | None = None
        self._pushed = 0
        self.dropped = 0

    def validate(self, data: bytes | bytearray | memoryview | str) -> tuple[bytes, dict[str, Any]]:
        """Check a posted body; returns ``(bytes, {"format", "width", "height"})``.

        ``data`` may be raw bytes or a ``data:image/...;base64,`` URL string.
        """
        if isinstance(data, str):
            data = _from_data_url(data)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise SourceError("bad_format", "上传内容不是图像", f"expected image bytes, got {type(data).__name__}")
        data = bytes(data)
        if not data:
            raise SourceError("empty", "上传的图像为空", "the posted image is empty")
        if len(data) > self.max_bytes:
            raise SourceError("too_large", f"图像太大（{len(data) // 1000} KB）", f"image too large ({len(data)} bytes)",
                              details={"bytes": len(data), "max_bytes": self.max_bytes})
        fmt = sniff_format(data)
        if fmt is None:
            raise SourceError("bad_format", "只接受 JPEG 或 PNG 图像", "only JPEG or PNG images are accepted")
        from PIL import Image  # noqa: PLC0415

        from qc.context import DecodeError, decode  # noqa: PLC0415

        from ._pillow import strict_truncation  # noqa: PLC0415

        strict_truncation()
        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
        except Exception:  # noqa: BLE001 - any header failure is "undecodable"
            raise SourceError("undecodable", "图像无法解码", "the image cannot be decoded") from None
        if w * h > self.max_pixels:
            raise SourceError("too_large", f"图像像素过多（{w}×{h}）", f"image has too many pixels ({w}×{h})",
                              details={"width": w, "height": h})
        if min(w, h) < min(self.min_width, self.min_height) or max(w, h) < max(self.min_width, self.min_height):
            raise SourceError("too_small", f"图像太小（{w}×{h}）", f"image too small ({w}×{h})",
                              details={"width": w, "height": h})
        try:
            decode(data, max_side=1024)
        except DecodeError as e:
            raise SourceError("undecodable", e.message_zh, e.message_en, details={"decode_code": e.code}) from None
        return data, {"format": fmt, "width": w, "height": h}

    def push(self, data: bytes | bytearray | memoryview | str) -> Frame:
        """Validate and queue a posted frame; returns it (the kiosk may use it directly)."""
        body, meta = self.validate(data)
        with self._lock:
            if self._latest is not None:
                self.dropped += 1
            fr = Frame(source=self.name, timestamp=time.time(), data=body, index=self._pushed, meta=meta)
            self._pushed += 1
            self._latest = fr
            return fr

    def _read(self) -> Frame | None:
        fr, self._latest = self._latest, None
        return fr

    def _close(self) -> None:
        self._latest = None


def _from_data_url(text: str) -> bytes:
    if not text.startswith("data:") or "," not in text:
        raise SourceError("bad_format", "上传内容不是图像", "expected image bytes or a data: URL")
    head, payload = text.split(",", 1)
    if ";base64" not in head:
        raise SourceError("bad_format", "data URL 必须是 base64", "the data: URL must be base64")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise SourceError("bad_format", "base64 数据无效", "invalid base64 in the data: URL") from None


# ---------------------------------------------------------------------- registry
def _kinds() -> dict[str, type[BaseSource]]:
    from .devices import OpenCVSource  # noqa: PLC0415 - cv2 itself is imported on open()
    from .hotfolder import HotFolderSource  # noqa: PLC0415

    return {"opencv": OpenCVSource, "hotfolder": HotFolderSource, "browser": BrowserSource,
            "file": FileSource, "synthetic": SyntheticSource}


class _Kinds(Mapping):
    """Lazy view of the registry (the modules import each other)."""

    def __getitem__(self, key: str) -> type[BaseSource]:
        return _kinds()[key]

    def __iter__(self):
        return iter(_kinds())

    def __len__(self) -> int:
        return len(_kinds())


#: ``kind`` → source class.
SOURCE_KINDS: Mapping[str, type[BaseSource]] = _Kinds()


def make_source(config: Mapping[str, Any]) -> BaseSource:
    """Build (but do not open) the source described by ``config`` (see module docstring)."""
    if not isinstance(config, Mapping):
        raise SourceError("bad_config", "摄像源配置必须是字典", "source config must be a mapping")
    kind = config.get("kind")
    kinds = _kinds()
    if kind not in kinds:
        raise SourceError("unknown_kind", f"未知的摄像源类型：{kind}",
                          f"unknown source kind {kind!r} (known: {', '.join(sorted(kinds))})", details={"kind": kind})
    return kinds[kind].from_config(config)


def open_source(config: Mapping[str, Any]) -> BaseSource:
    """:func:`make_source` and :meth:`~BaseSource.open` it."""
    src = make_source(config)
    src.open()
    return src
