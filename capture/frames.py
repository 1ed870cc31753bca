"""The frame type every capture source returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Frame", "sniff_format"]


def sniff_format(data: bytes) -> str | None:
    """``"JPEG"``, ``"PNG"`` or ``None`` from the magic bytes."""
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    return None


@dataclass(frozen=True, eq=False)
class Frame:
    """One picture from a source.

    Exactly one of ``rgb`` and ``data`` is normally set: cameras give decoded pixels,
    files/hot folders/browsers give encoded bytes (kept as they are, so the original can
    be stored and hashed before anything else happens).

    Attributes
    ----------
    source : str
        Name of the source (``"opencv:0"``, ``"hotfolder:/srv/drop"``, ``"browser"``...).
    timestamp : float
        When the frame was taken/received, ``time.time()`` seconds.
    rgb : numpy.ndarray | None
        ``(H, W, 3)`` uint8 RGB.
    data : bytes | None
        Encoded image (JPEG/PNG...).
    name : str | None
        File name for file-based sources.
    index : int
        Sequence number within the source (0, 1, ...).
    meta : dict
        Source-specific extras (e.g. the hot-folder path, the device resolution).
    """

    source: str
    timestamp: float
    rgb: np.ndarray | None = None
    data: bytes | None = None
    name: str | None = None
    index: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def format(self) -> str | None:
        """``"JPEG"``/``"PNG"`` for encoded frames, ``"RGB"`` for pixel frames."""
        if self.data is not None:
            return sniff_format(self.data)
        return "RGB" if self.rgb is not None else None

    def image(self, max_side: int | None = None) -> np.ndarray:
        """The picture as ``(H, W, 3)`` uint8 RGB (decoding ``data`` if needed, EXIF applied).

        Raises :class:`qc.context.DecodeError` for undecodable bytes.
        """
        if self.rgb is not None:
            return self.rgb
        from qc.context import decode  # noqa: PLC0415

        from ._pillow import strict_truncation  # noqa: PLC0415

        strict_truncation()
        return decode(self.data or b"", max_side=max_side)[1]
