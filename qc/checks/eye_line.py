"""``eye_line``: the eye line sits in the allowed band below the top edge.

Rule (spec §3): the mean y of the two eye centres (landmarks 36–41 and 42–47) is
200–300 px from the top (upstream label 眼睛中心距离顶部百分比: the same as a share of
the height).  Profile keys: ``pass_min``, ``pass_max`` (px).
Known limits: eye centres are landmark means, accurate to a few px at this size.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import FAIL, PASS, check_order, r1, result

NAME = "eye_line"
LABEL_ZH = "眼睛中心距离顶部百分比"
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Band of the eye line in px from the top edge."""

    pass_min: float
    pass_max: float

    def __post_init__(self):
        check_order("pass_min", self.pass_min, "pass_max", self.pass_max)


def check(ctx, t: Thresholds):
    f = ctx.face
    y = float(f.eye_mid[1])
    h = ctx.height
    pct = 100.0 * y / h
    expected = f"{t.pass_min:g}–{t.pass_max:g} px"
    region = (0, int(min(y, t.pass_min)), ctx.width, int(max(y, t.pass_max)))
    if t.pass_min <= y <= t.pass_max:
        return result(NAME, PASS, measured=r1(y), expected=expected, unit="px", label=LABEL_ZH)
    if y < t.pass_min:
        return result(NAME, FAIL, measured=r1(y), expected=expected, reason="too_high", unit="px", label=LABEL_ZH,
                      region=region,
                      zh=f"眼睛中心距顶部 {y:.0f} 像素（{pct:.1f}%），要求 {t.pass_min:g}–{t.pass_max:g}：人像偏高，请把相机抬高一点或让学生坐低一点",
                      en=f"eye line {y:.0f} px ({pct:.1f}%) from the top, {t.pass_min:g}–{t.pass_max:g} required: subject too high, raise the camera or seat the student lower")
    return result(NAME, FAIL, measured=r1(y), expected=expected, reason="too_low", unit="px", label=LABEL_ZH,
                  region=region,
                  zh=f"眼睛中心距顶部 {y:.0f} 像素（{pct:.1f}%），要求 {t.pass_min:g}–{t.pass_max:g}：人像偏低，请把相机放低一点或让学生坐高一点",
                  en=f"eye line {y:.0f} px ({pct:.1f}%) from the top, {t.pass_min:g}–{t.pass_max:g} required: subject too low, lower the camera or seat the student higher")
