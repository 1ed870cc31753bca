"""``eye_roll``: the pupil line is level.

Rule (spec §3, upstream label 瞳孔平行角度): angle of the line between the eye centres,
≤ 2° pass, 2–5° warn, beyond fail (calibrated, see ``tools/calibration``).
Profile keys: ``pass_max``, ``warn_max`` (degrees).
Known limits: a camera that is itself rolled gives the same reading (level the camera).
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import PASS, check_order, grade_high, r1, result

NAME = "eye_roll"
LABEL_ZH = "瞳孔平行角度"
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Largest |angle| in degrees for pass and for warn."""

    pass_max: float
    warn_max: float

    def __post_init__(self):
        check_order("pass_max", self.pass_max, "warn_max", self.warn_max)


def check(ctx, t: Thresholds):
    f = ctx.face
    a = f.roll_deg
    expected = f"≤ {t.pass_max:g}°"
    st = grade_high(abs(a), t.pass_max, t.warn_max)
    if st is PASS:
        return result(NAME, PASS, measured=r1(a), expected=expected, unit="deg", label=LABEL_ZH)
    # Positive: the eye on the image's right is lower = head tilted towards the student's left shoulder.
    side_zh = "左肩" if a > 0 else "右肩"
    side_en = "left" if a > 0 else "right"
    (x0, y0), (x1, y1) = f.eye_left, f.eye_right
    return result(NAME, st, measured=r1(a), expected=expected, reason="tilted", unit="deg", label=LABEL_ZH,
                  region=(min(x0, x1) - 20, min(y0, y1) - 20, max(x0, x1) + 20, max(y0, y1) + 20),
                  zh=f"双眼连线倾斜 {abs(a):.1f}°（头向学生{side_zh}歪），要求 ≤ {t.pass_max:g}°：请让学生把头摆正，并确认相机水平",
                  en=f"eye line tilted {abs(a):.1f}° (head leaning to the student's {side_en} shoulder), at most {t.pass_max:g}° required: have the student hold the head level and check the camera is level")
