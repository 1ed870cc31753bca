"""``face_width``: cheek-to-cheek width in the allowed band.

Rule (spec §3): 180–300 px; the profile narrows the pass band (207–300) and warns in
180–207.  Measured: distance between jaw landmarks 0 and 16 (px).
Profile keys: ``pass_min``, ``pass_max``, ``warn_min``.
Known limits: the jaw contour is the landmark model's estimate; hair over the cheeks
does not widen it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import FAIL, PASS, WARN, check_order, r1, result

NAME = "face_width"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Bands in px: pass ``[pass_min, pass_max]``, warn ``[warn_min, pass_min)``."""

    pass_min: float
    pass_max: float
    warn_min: float

    def __post_init__(self):
        check_order("warn_min", self.warn_min, "pass_min", self.pass_min)
        check_order("pass_min", self.pass_min, "pass_max", self.pass_max)


def check(ctx, t: Thresholds):
    f = ctx.face
    wd = f.jaw_width
    lm = f.landmarks
    expected = f"{t.pass_min:g}–{t.pass_max:g} px"
    region = (min(lm[0, 0], lm[16, 0]), min(lm[0, 1], lm[16, 1]) - 10, max(lm[0, 0], lm[16, 0]), max(lm[0, 1], lm[16, 1]) + 10)
    if t.pass_min <= wd <= t.pass_max:
        return result(NAME, PASS, measured=r1(wd), expected=expected, unit="px")
    if wd > t.pass_max:
        return result(NAME, FAIL, measured=r1(wd), expected=expected, reason="too_wide", unit="px", region=region,
                      zh=f"脸部宽度 {wd:.0f} 像素，要求 {t.pass_min:g}–{t.pass_max:g}：脸太大，请让学生离相机远一点（或镜头拉远）",
                      en=f"face width {wd:.0f} px, {t.pass_min:g}–{t.pass_max:g} required: face too large, move the student further from the camera (or zoom out)")
    st = WARN if wd >= t.warn_min else FAIL
    return result(NAME, st, measured=r1(wd), expected=expected, reason="too_narrow", unit="px", region=region,
                  zh=f"脸部宽度 {wd:.0f} 像素，要求 {t.pass_min:g}–{t.pass_max:g}：脸太小，请让学生离相机近一点（或镜头拉近）",
                  en=f"face width {wd:.0f} px, {t.pass_min:g}–{t.pass_max:g} required: face too small, move the student closer (or zoom in)")
