"""``head_top``: the top of the hair (buns, ornaments included) is 50–110 px below the top edge.

Rule (spec §3, upstream label 头顶距离顶部百分比).  Measured: ``ctx.crown_y``, the first
row of the person mask above the face (``qc.segment``), not the face box.  Touching row
0 means the head is cut off: fail whatever the band says.

Profile keys: ``pass_min``, ``pass_max``, ``warn_margin`` (px; within this much outside
the band is a warning).
Known limits: needs a plain backdrop (an unreliable segmentation is not assessed); hair
of nearly the backdrop colour reads low (more room above the head than there is).
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import FAIL, PASS, WARN, check_order, not_assessed, result

NAME = "head_top"
LABEL_ZH = "头顶距离顶部百分比"
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Band in px from the top edge; ``warn_margin`` px either side of it warns."""

    pass_min: float
    pass_max: float
    warn_margin: float

    def __post_init__(self):
        check_order("pass_min", self.pass_min, "pass_max", self.pass_max)


def check(ctx, t: Thresholds):
    expected = f"{t.pass_min:g}–{t.pass_max:g} px"
    seg = ctx.segmentation
    if not seg.reliable:
        return not_assessed(NAME, "busy_backdrop", "背景不是纯色，无法可靠测量头顶位置",
                            "backdrop not plain: the head top cannot be measured reliably",
                            label=LABEL_ZH, expected=expected, unit="px")
    y = seg.crown_y
    if y is None:
        return not_assessed(NAME, "no_head", "未能分割出头部轮廓", "the head outline could not be found",
                            label=LABEL_ZH, expected=expected, unit="px")
    pct = 100.0 * y / ctx.height
    w = ctx.width
    region = (0, 0, w, max(int(y), 2))
    if y <= 0:
        return result(NAME, FAIL, measured=int(y), expected=expected, reason="cut", unit="px", label=LABEL_ZH,
                      region=(0, 0, w, 4),
                      zh=f"头顶被照片上边缘裁切，要求头顶距顶部 {t.pass_min:g}–{t.pass_max:g} 像素：请把相机抬高或让学生坐低一点，并后退一点",
                      en=f"the head is cut off by the top edge ({t.pass_min:g}–{t.pass_max:g} px of room required): raise the camera or seat the student lower, step back a little")
    if t.pass_min <= y <= t.pass_max:
        return result(NAME, PASS, measured=int(y), expected=expected, unit="px", label=LABEL_ZH)
    status = WARN if (t.pass_min - t.warn_margin) <= y <= (t.pass_max + t.warn_margin) else FAIL
    if y < t.pass_min:
        return result(NAME, status, measured=int(y), expected=expected, reason="too_high", unit="px", label=LABEL_ZH,
                      region=region,
                      zh=f"头顶距离顶部 {y:.0f} 像素（{pct:.1f}%），要求 {t.pass_min:g}–{t.pass_max:g}：请让学生坐低一点 / 相机抬高",
                      en=f"head top {y:.0f} px ({pct:.1f}%) from the top edge, {t.pass_min:g}–{t.pass_max:g} required: seat the student lower / raise the camera")
    return result(NAME, status, measured=int(y), expected=expected, reason="too_low", unit="px", label=LABEL_ZH,
                  region=(0, 0, w, int(y)),
                  zh=f"头顶距离顶部 {y:.0f} 像素（{pct:.1f}%），要求 {t.pass_min:g}–{t.pass_max:g}：头顶上方空白过多，请让学生坐高一点 / 相机放低，或离相机近一点",
                  en=f"head top {y:.0f} px ({pct:.1f}%) from the top edge, {t.pass_min:g}–{t.pass_max:g} required: too much room above the head, seat the student higher / lower the camera, or move closer")
