"""OpenCV cameras and capture cards: the only module that calls ``cv2.VideoCapture``.

``device`` is an index (``0`` → ``/dev/video0``), a device path, or anything FFmpeg can
open (a video file or stream URL — which is how the tests exercise this class without a
camera).  Resolution/fps/FOURCC are requests; the driver may choose something else, so
the frames report what was actually delivered (``Frame.meta``).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import SourceError
from .frames import Frame
from .sources import BaseSource

__all__ = ["OpenCVSource", "BACKENDS"]

#: Config ``backend`` → OpenCV API preference name (resolved on open).
BACKENDS = {"any": "CAP_ANY", "v4l2": "CAP_V4L2", "ffmpeg": "CAP_FFMPEG", "gstreamer": "CAP_GSTREAMER"}


class OpenCVSource(BaseSource):
    """A camera read through OpenCV.

    Parameters
    ----------
    device : int | str
        Camera index, device path or video file/URL.
    width, height : int, optional
        Requested frame size in pixels (``CAP_PROP_FRAME_WIDTH/HEIGHT``).
    fps : float, optional
        Requested frame rate.
    fourcc : str, optional
        Requested pixel format, e.g. ``"MJPG"`` (USB cameras deliver 720p/1080p at full
        rate only as MJPG).
    backend : str
        One of :data:`BACKENDS` (default ``"any"``).
    max_failures : int
        Consecutive failed reads after which the device counts as gone (``read`` then
        raises ``device_unavailable``); a video file simply ends (``None``).
    """

    KIND = "opencv"
    CONFIG = {"device": ((int, str), 0), "width": ((int,), None), "height": ((int,), None),
              "fps": ((int, float), None), "fourcc": ((str,), None), "backend": ((str,), "any"),
              "max_failures": ((int,), 30)}

    def __init__(self, device: int | str = 0, width: int | None = None, height: int | None = None,
                 fps: float | None = None, fourcc: str | None = None, backend: str = "any", max_failures: int = 30):
        super().__init__()
        if backend not in BACKENDS:
            raise SourceError("bad_config", f"未知的 OpenCV 后端：{backend}", f"unknown OpenCV backend {backend!r}",
                              details={"key": "backend"})
        if fourcc is not None and len(fourcc) != 4:
            raise SourceError("bad_config", "fourcc 必须是 4 个字符", "fourcc must have 4 characters",
                              details={"key": "fourcc"})
        self.device = device
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.backend = backend
        self.max_failures = max_failures
        self.name = f"opencv:{device}"
        self._cap = None
        self._failures = 0
        self._is_file = isinstance(device, str) and os.path.isfile(device)
        self.actual: dict[str, Any] = {}

    def _open(self) -> None:
        import cv2  # noqa: PLC0415

        api = getattr(cv2, BACKENDS[self.backend], cv2.CAP_ANY)
        cap = cv2.VideoCapture(self.device, api)
        if not cap.isOpened():
            cap.release()
            raise SourceError("device_unavailable", f"无法打开摄像头 {self.device}",
                              f"cannot open camera {self.device!r}", details={"device": self.device})
        if self.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self.fourcc))
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(self.width))
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(self.height))
        if self.fps:
            cap.set(cv2.CAP_PROP_FPS, float(self.fps))
        self.actual = {"width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                       "fps": float(cap.get(cv2.CAP_PROP_FPS)), "backend": cap.getBackendName()}
        self._cap = cap
        self._failures = 0

    def _read(self) -> Frame | None:
        import cv2  # noqa: PLC0415

        assert self._cap is not None
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            if self._is_file:
                return None
            self._failures += 1
            if self._failures >= self.max_failures:
                raise SourceError("device_unavailable", f"摄像头 {self.device} 没有画面",
                                  f"camera {self.device!r} delivers no frames", details={"device": self.device})
            return None
        self._failures = 0
        if bgr.ndim == 2:
            rgb = np.dstack([bgr, bgr, bgr])
        else:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return self._frame(rgb=rgb, width=rgb.shape[1], height=rgb.shape[0])

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
