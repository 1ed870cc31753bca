"""Coded errors of the capture package.

Every refusal carries a stable ``code`` (for reports, JSON and tests), a Chinese and an
English message, and short hints for the operator (Chinese, with English alongside).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Hint", "CaptureError", "NormalizeError", "SourceError"]


@dataclass(frozen=True)
class Hint:
    """One short instruction for the operator/student."""

    code: str
    zh: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "zh": self.zh, "en": self.en}


class CaptureError(Exception):
    """Base class: ``code``, ``message_zh``, ``message_en``, ``hints`` and ``details``."""

    def __init__(self, code: str, message_zh: str, message_en: str,
                 hints: list[Hint] | tuple[Hint, ...] = (), details: dict[str, Any] | None = None):
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.hints = list(hints)
        self.details = dict(details or {})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"code", "message_zh", "message_en", "hints", "details"}``."""
        return {"code": self.code, "message_zh": self.message_zh, "message_en": self.message_en,
                "hints": [h.to_dict() for h in self.hints], "details": _plain(self.details)}


class NormalizeError(CaptureError):
    """A frame that cannot be made into a spec photo.

    Codes: ``undecodable``, ``no_face``, ``multiple_faces``, ``face_too_small``,
    ``roll_too_large``, ``head_cut_top``, ``no_room_top``, ``no_room_bottom``,
    ``no_room_side``, ``head_proportions``, ``file_too_large``.
    """


class SourceError(CaptureError):
    """A capture source could not be configured, opened or read, or refused a frame.

    Codes: ``bad_config``, ``unknown_kind``, ``device_unavailable``, ``not_found``,
    ``empty``, ``too_large``, ``bad_format``, ``undecodable``, ``too_small``, ``closed``.
    """


def _plain(obj: Any) -> Any:
    """Convert numpy scalars/arrays and tuples to JSON-ready Python values."""
    try:
        import numpy as np  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        np = None
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if np is not None:
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, np.generic):
            return obj.item()
    if isinstance(obj, float):
        return round(obj, 3)
    return obj
