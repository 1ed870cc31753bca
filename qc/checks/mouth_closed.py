"""``mouth_closed``: lips closed (no open mouth, no teeth).

Rule (spec §4).  Measured: the mean gap between the inner lips (landmark pairs 61–67,
62–66, 63–65) divided by the eye distance.  ≤ 0.05 pass, 0.05–0.10 warn, beyond fail
(calibrated).

Profile keys: ``pass_max``, ``warn_max`` (ratio).
Known limits: a broad smile with closed lips passes (allowed); teeth showing between
lips that the landmark model closes are missed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import PASS, check_order, grade_high, r1, result

NAME = "mouth_closed"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Limits on inner-lip gap / eye distance."""

    pass_max: float
    warn_max: float

    def __post_init__(self):
        check_order("pass_max", self.pass_max, "warn_max", self.warn_max)


def mouth_gap(landmarks: np.ndarray) -> float:
    """Mean inner-lip gap (px) of ``(68, 2)`` landmarks."""
    pairs = ((61, 67), (62, 66), (63, 65))
    return float(np.mean([np.linalg.norm(landmarks[a] - landmarks[b]) for a, b in pairs]))


def check(ctx, t: Thresholds):
    f = ctx.face
    ratio = mouth_gap(f.landmarks) / max(1.0, f.eye_distance)
    expected = f"≤ {t.pass_max:g}"
    st = grade_high(ratio, t.pass_max, t.warn_max)
    if st is PASS:
        return result(NAME, PASS, measured=r1(ratio, 3), expected=expected, unit="ratio")
    pts = f.landmarks[48:68]
    region = (pts[:, 0].min() - 10, pts[:, 1].min() - 10, pts[:, 0].max() + 10, pts[:, 1].max() + 10)
    return result(NAME, st, measured=r1(ratio, 3), expected=expected, reason="open", unit="ratio", region=region,
                  zh=f"嘴巴张开（唇间距/眼距 {ratio:.2f}，要求 ≤ {t.pass_max:g}）：请让学生自然闭嘴、不露齿后重拍",
                  en=f"mouth open (lip gap / eye distance {ratio:.2f}, ≤ {t.pass_max:g} allowed): lips closed, no teeth, retake")
