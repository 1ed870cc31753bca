"""``eye_distance``: enough pixels between the eye centres for recognition.

Rule (spec §3, ICAO/ISO minimum): ≥ 90 px pass, 80–90 warn, below fail.
Profile keys: ``pass_min``, ``warn_min`` (px).
Known limits: measured in the image plane; a turned head shortens it (``head_pose``).
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import PASS, check_order, grade_low, r1, result

NAME = "eye_distance"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Minimum eye distance in px for pass and for warn."""

    pass_min: float
    warn_min: float

    def __post_init__(self):
        check_order("warn_min", self.warn_min, "pass_min", self.pass_min)


def check(ctx, t: Thresholds):
    f = ctx.face
    d = f.eye_distance
    expected = f"≥ {t.pass_min:g} px"
    st = grade_low(d, t.pass_min, t.warn_min)
    if st is PASS:
        return result(NAME, PASS, measured=r1(d), expected=expected, unit="px")
    (x0, y0), (x1, y1) = f.eye_left, f.eye_right
    return result(NAME, st, measured=r1(d), expected=expected, reason="too_small", unit="px",
                  region=(min(x0, x1) - 10, min(y0, y1) - 10, max(x0, x1) + 10, max(y0, y1) + 10),
                  zh=f"两眼中心距离 {d:.0f} 像素，要求 ≥ {t.pass_min:g}：人脸太小，请让学生离相机近一点（或镜头拉近）",
                  en=f"eye distance {d:.0f} px, at least {t.pass_min:g} required: face too small, move the student closer (or zoom in)")
