"""Read and write YUV4MPEG2 (``.y4m``) files: raw 4:2:0 video, one header, many frames.

Chromium's fake camera (``--use-file-for-fake-video-capture=FILE.y4m``) and the
:class:`~capture.sources.SyntheticSource` play these.  The writer produces::

    YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\\n
    FRAME\\n <W·H bytes Y> <W/2·H/2 bytes U> <W/2·H/2 bytes V>
    FRAME\\n ...

Colour conversion is OpenCV's ``COLOR_RGB2YUV_I420`` / ``COLOR_YUV2RGB_I420`` (BT.601),
so a write/read round trip is close (|Δ| ≤ a few levels; chroma is shared by 2×2 pixels).
4:2:0 needs even dimensions: odd frames lose their last column/row (documented, never
padded).  The reader also accepts the other 4:2:0 siting tags (``C420``, ``C420mpeg2``,
``C420paldv``) and ``Cmono``; frame headers may carry parameters (``FRAME Ixx``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np

__all__ = ["Y4MHeader", "Y4MReader", "Y4MWriter", "Y4MError", "read_y4m", "write_y4m", "even_crop"]

MAGIC = b"YUV4MPEG2"
_MAX_HEADER = 1024
_420 = {"420jpeg", "420", "420mpeg2", "420paldv"}


class Y4MError(ValueError):
    """Not a YUV4MPEG2 stream, an unsupported colour space, or a truncated frame."""


@dataclass(frozen=True)
class Y4MHeader:
    """Stream parameters.

    ``width``/``height`` in pixels; ``fps`` as a ``(numerator, denominator)`` pair;
    ``colorspace`` the ``C`` tag without the ``C`` (``420jpeg``...); ``interlace`` the
    ``I`` tag; ``aspect`` the ``A`` tag.
    """

    width: int
    height: int
    fps: tuple[int, int] = (30, 1)
    colorspace: str = "420jpeg"
    interlace: str = "p"
    aspect: tuple[int, int] = (1, 1)

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame's planes (after the ``FRAME`` line)."""
        if self.colorspace == "mono":
            return self.width * self.height
        return self.width * self.height + 2 * ((self.width + 1) // 2) * ((self.height + 1) // 2)

    def line(self) -> bytes:
        return (f"YUV4MPEG2 W{self.width} H{self.height} F{self.fps[0]}:{self.fps[1]} "
                f"I{self.interlace} A{self.aspect[0]}:{self.aspect[1]} C{self.colorspace}\n").encode("ascii")

    @classmethod
    def parse(cls, line: bytes) -> "Y4MHeader":
        """Parse the stream header line (without the newline)."""
        parts = line.split(b" ")
        if not parts or parts[0] != MAGIC:
            raise Y4MError("not a YUV4MPEG2 stream")
        w = h = None
        fps, cs, il, asp = (30, 1), "420jpeg", "p", (1, 1)
        try:
            for p in parts[1:]:
                if not p:
                    continue
                tag, val = chr(p[0]), p[1:].decode("ascii")
                if tag == "W":
                    w = int(val)
                elif tag == "H":
                    h = int(val)
                elif tag == "F":
                    n, d = val.split(":")
                    fps = (int(n), int(d))
                elif tag == "C":
                    cs = val
                elif tag == "I":
                    il = val
                elif tag == "A":
                    n, d = val.split(":")
                    asp = (int(n), int(d))
                # X (comments) and unknown tags are ignored, as the format asks.
        except (ValueError, UnicodeDecodeError) as e:
            raise Y4MError(f"bad YUV4MPEG2 header: {e}") from None
        if not w or not h or w <= 0 or h <= 0:
            raise Y4MError("YUV4MPEG2 header lacks a positive W and H")
        if cs not in _420 and cs != "mono":
            raise Y4MError(f"unsupported colour space C{cs} (only 4:2:0 and mono)")
        return cls(width=w, height=h, fps=fps, colorspace=cs, interlace=il, aspect=asp)


def even_crop(rgb: np.ndarray) -> np.ndarray:
    """Drop a last odd column/row so both dimensions are even (``(H, W, 3)`` → ``(2⌊H/2⌋, 2⌊W/2⌋, 3)``)."""
    h, w = rgb.shape[:2]
    return rgb[: h - (h % 2), : w - (w % 2)]


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        raise Y4MError(f"frames must be uint8, got {a.dtype}")
    if a.ndim == 2:
        a = np.dstack([a, a, a])
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise Y4MError(f"frames must be (H, W, 3) RGB, got shape {a.shape}")
    return np.ascontiguousarray(a[:, :, :3])


class Y4MWriter:
    """Stream RGB frames into a ``.y4m`` file.

    The size is fixed by the first frame (cropped to even); later frames must have the
    same even-cropped size.  Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike, fps: int | tuple[int, int] = 30):
        self.path = Path(path)
        self.fps = (int(fps), 1) if isinstance(fps, int) else (int(fps[0]), int(fps[1]))
        self._f: BinaryIO | None = None
        self.header: Y4MHeader | None = None
        self.frames = 0
        self._tmp = self.path.with_name(self.path.name + ".part")

    def write(self, rgb: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame."""
        import cv2  # noqa: PLC0415

        a = even_crop(_as_rgb(rgb))
        h, w = a.shape[:2]
        if h < 2 or w < 2:
            raise Y4MError(f"frame too small for 4:2:0: {w}×{h}")
        if self.header is None:
            self.header = Y4MHeader(width=w, height=h, fps=self.fps)
            self._f = open(self._tmp, "wb")
            self._f.write(self.header.line())
        elif (w, h) != (self.header.width, self.header.height):
            raise Y4MError(f"frame {self.frames} is {w}×{h}, the stream is {self.header.width}×{self.header.height}")
        yuv = cv2.cvtColor(a, cv2.COLOR_RGB2YUV_I420)
        assert self._f is not None
        self._f.write(b"FRAME\n")
        self._f.write(yuv.tobytes())
        self.frames += 1

    def close(self) -> None:
        """Finish the file (written to ``<path>.part`` and renamed, so readers never see half a file)."""
        if self._f is not None:
            self._f.close()
            self._f = None
            os.replace(self._tmp, self.path)

    def __enter__(self) -> "Y4MWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self._f is not None:
            self._f.close()
            self._f = None
            self._tmp.unlink(missing_ok=True)
            return
        self.close()


def write_y4m(path: str | os.PathLike, frames: np.ndarray | Iterable[np.ndarray], fps: int = 30,
              *, repeat: int = 1) -> Y4MHeader:
    """Write ``frames`` to a ``.y4m`` file and return its header.

    Parameters
    ----------
    path : path
    frames : numpy.ndarray | iterable of numpy.ndarray
        One ``(H, W, 3)`` uint8 RGB frame, an ``(N, H, W, 3)`` stack, or an iterable of
        frames (grey ``(H, W)`` frames are accepted).  Odd sizes are cropped to even.
    fps : int
        Frame rate written into the header (``F{fps}:1``).
    repeat : int
        Write each frame this many times (Chromium loops the file; a few identical
        frames give it a steady picture).
    """
    if isinstance(frames, np.ndarray) and frames.ndim in (2, 3):
        frames = [frames]
    with Y4MWriter(path, fps=fps) as w:
        for fr in frames:
            for _ in range(max(1, int(repeat))):
                w.write(fr)
        if w.header is None:
            raise Y4MError("no frames to write")
        return w.header


class Y4MReader:
    """Iterate the frames of a ``.y4m`` file as ``(H, W, 3)`` uint8 RGB arrays.

    ``rewind()`` starts again (the synthetic source loops with it).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._f: BinaryIO = open(self.path, "rb")
        try:
            line = self._f.readline(_MAX_HEADER)
            if not line.endswith(b"\n"):
                raise Y4MError("YUV4MPEG2 header line missing or too long")
            self.header = Y4MHeader.parse(line[:-1])
        except Exception:
            self._f.close()
            raise
        self._data_start = self._f.tell()
        self.index = 0

    def rewind(self) -> None:
        self._f.seek(self._data_start)
        self.index = 0

    def read(self) -> np.ndarray | None:
        """The next frame, or ``None`` at the end of the stream."""
        import cv2  # noqa: PLC0415

        line = self._f.readline(_MAX_HEADER)
        if not line:
            return None
        if not line.startswith(b"FRAME"):
            raise Y4MError(f"frame {self.index}: expected FRAME, got {line[:16]!r}")
        n = self.header.frame_bytes
        buf = self._f.read(n)
        if len(buf) < n:
            return None  # a truncated last frame is dropped, as players do
        h, w = self.header.height, self.header.width
        self.index += 1
        if self.header.colorspace == "mono":
            y = np.frombuffer(buf, np.uint8).reshape(h, w)
            return np.dstack([y, y, y])
        if w % 2 == 0 and h % 2 == 0:
            yuv = np.frombuffer(buf, np.uint8).reshape(h * 3 // 2, w)
            return cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)
        # Odd sizes (written by other tools): upsample chroma by hand.
        cw, ch = (w + 1) // 2, (h + 1) // 2
        y = np.frombuffer(buf[: w * h], np.uint8).reshape(h, w)
        u = np.frombuffer(buf[w * h: w * h + cw * ch], np.uint8).reshape(ch, cw)
        v = np.frombuffer(buf[w * h + cw * ch:], np.uint8).reshape(ch, cw)
        u = np.repeat(np.repeat(u, 2, 0), 2, 1)[:h, :w]
        v = np.repeat(np.repeat(v, 2, 0), 2, 1)[:h, :w]
        return cv2.cvtColor(np.dstack([y, u, v]), cv2.COLOR_YUV2RGB)

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            fr = self.read()
            if fr is None:
                return
            yield fr

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "Y4MReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_y4m(path: str | os.PathLike, *, max_frames: int | None = None) -> tuple[Y4MHeader, list[np.ndarray]]:
    """All frames (at most ``max_frames``) of a ``.y4m`` file as RGB arrays, with the header."""
    out: list[np.ndarray] = []
    with Y4MReader(path) as r:
        for fr in r:
            out.append(fr)
            if max_frames is not None and len(out) >= max_frames:
                break
        return r.header, out
