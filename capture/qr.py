"""Read a QR code (the student's 图像采集码) from a camera frame.

:func:`decode_qr` takes encoded bytes (JPEG/PNG as the browser posts them), a
:class:`~capture.frames.Frame` or an ``(H, W, 3)`` uint8 RGB array and returns the
decoded texts, verbatim (no stripping: the 采集码 is opaque and goes upstream as scanned).
OpenCV's ``QRCodeDetector`` is tried on the frame and, when that finds nothing, on a
half-size copy and a contrast-stretched copy (a phone screen held up to a webcam is
often too big or too flat for the first try).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .errors import CaptureError

__all__ = ["decode_qr"]


def _gray(frame: Any) -> np.ndarray:
    import cv2  # noqa: PLC0415

    from .guide import _to_rgb  # noqa: PLC0415 - the same input rules as guidance

    if isinstance(frame, (bytes, bytearray, memoryview)):
        from qc.context import DecodeError, decode  # noqa: PLC0415

        try:
            rgb = decode(bytes(frame), max_side=2000)[1]
        except DecodeError as e:
            raise CaptureError("undecodable", e.message_zh, e.message_en) from None
    else:
        rgb = _to_rgb(frame)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def decode_qr(frame: Any) -> list[str]:
    """Texts of the QR codes found in ``frame`` (empty list when none could be read).

    Raises :class:`~capture.errors.CaptureError` (``undecodable`` / ``bad_frame``) when
    ``frame`` is not a picture at all.
    """
    import cv2  # noqa: PLC0415

    gray = _gray(frame)
    det = cv2.QRCodeDetector()
    h, w = gray.shape[:2]
    tries = [gray]
    if max(h, w) > 800:
        tries.append(cv2.resize(gray, (w // 2, h // 2), interpolation=cv2.INTER_AREA))
    tries.append(cv2.normalize(gray, None, 0, 255, cv2.NORM_MINMAX))
    for img in tries:
        try:
            ok, texts, _pts, _ = det.detectAndDecodeMulti(img)
        except cv2.error:
            ok, texts = False, ()
        found = [t for t in (texts or ()) if t] if ok else []
        if not found:
            try:
                text, _pts, _ = det.detectAndDecode(img)
            except cv2.error:
                text = ""
            found = [text] if text else []
        if found:
            return found
    return []
