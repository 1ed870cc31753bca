"""``horizontal_centre``: the face is centred left–right.

Rule (spec §3, ISO/IEC 19794-5): the eye midpoint x lies in 216–264 px (45–55 % of the
width).  Profile keys: ``pass_min``, ``pass_max`` (px).
Known limits: a turned head shifts the eye midpoint (``head_pose`` reports the turn).
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import FAIL, PASS, check_order, r1, result

NAME = "horizontal_centre"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Band of the eye-midpoint x in px from the left edge."""

    pass_min: float
    pass_max: float

    def __post_init__(self):
        check_order("pass_min", self.pass_min, "pass_max", self.pass_max)


def check(ctx, t: Thresholds):
    x = float(ctx.face.eye_mid[0])
    expected = f"{t.pass_min:g}–{t.pass_max:g} px"
    if t.pass_min <= x <= t.pass_max:
        return result(NAME, PASS, measured=r1(x), expected=expected, unit="px")
    h = ctx.height
    region = (min(x, t.pass_min), 0, max(x, t.pass_max), h)
    if x < t.pass_min:
        return result(NAME, FAIL, measured=r1(x), expected=expected, reason="left", unit="px", region=region,
                      zh=f"人像偏左（眼睛中点 x={x:.0f} 像素，要求 {t.pass_min:g}–{t.pass_max:g}）：请把相机向左平移一点，或让学生向画面右侧挪",
                      en=f"subject off-centre to the left (eye midpoint x={x:.0f} px, {t.pass_min:g}–{t.pass_max:g} required): move the camera left or the student towards image right")
    return result(NAME, FAIL, measured=r1(x), expected=expected, reason="right", unit="px", region=region,
                  zh=f"人像偏右（眼睛中点 x={x:.0f} 像素，要求 {t.pass_min:g}–{t.pass_max:g}）：请把相机向右平移一点，或让学生向画面左侧挪",
                  en=f"subject off-centre to the right (eye midpoint x={x:.0f} px, {t.pass_min:g}–{t.pass_max:g} required): move the camera right or the student towards image left")
