"""``side_margins``: room between the head (ears, hair at ear level) and the side edges.

Rule (spec §3, legacy soft rule): ≥ 48 px pass, 24–48 warn, < 24 fail.  Measured: the
smaller of the left and right gaps between the image edge and the person mask in the
rows from the eye line down to just above the chin (where the ears are).  Without a
reliable mask the jaw landmarks 0/16 stand in (they lie inside the ears, so the margin
then reads a little generous).

Profile keys: ``pass_min``, ``warn_min`` (px).
Known limits: long hair spreading at ear level counts as head.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import PASS, check_order, grade_low, r1, result

NAME = "side_margins"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Smallest side gap in px for pass and for warn."""

    pass_min: float
    warn_min: float

    def __post_init__(self):
        check_order("warn_min", self.warn_min, "pass_min", self.pass_min)


def head_extent(ctx) -> tuple[float, float, str]:
    """``(x_left, x_right, source)`` of the head at ear level, in px."""
    f = ctx.face
    lm = f.landmarks
    w = ctx.width
    seg = ctx.segmentation
    y0 = int(max(0, f.eye_mid[1]))
    y1 = int(min(ctx.height, f.eye_mid[1] + 0.8 * (f.chin[1] - f.eye_mid[1])))
    if seg.reliable and y1 > y0:
        rows = seg.person[y0:y1]
        cols = np.nonzero(rows.any(axis=0))[0]
        if len(cols):
            return float(cols[0]), float(cols[-1] + 1), "mask"
    xs = lm[0:17, 0]
    return float(max(0, xs.min())), float(min(w, xs.max())), "landmarks"


def check(ctx, t: Thresholds):
    x0, x1, _ = head_extent(ctx)
    w = ctx.width
    left, right = x0, w - x1
    m = min(left, right)
    expected = f"≥ {t.pass_min:g} px"
    st = grade_low(m, t.pass_min, t.warn_min)
    if st is PASS:
        return result(NAME, PASS, measured=r1(m), expected=expected, unit="px")
    f = ctx.face
    y0, y1 = f.box.top, f.box.bottom
    if left + right < 2 * t.pass_min:
        region = (0, y0, w, y1)
        zh = f"头部两侧留白不足（左 {left:.0f}、右 {right:.0f} 像素，要求各 ≥ {t.pass_min:g}）：头部太大，请让学生离相机远一点"
        en = f"too little room beside the head (left {left:.0f}, right {right:.0f} px; ≥ {t.pass_min:g} each required): move the student further away"
        reason = "head_too_wide"
    else:
        side_zh = "左" if left < right else "右"
        region = (0, y0, int(x0), y1) if left < right else (int(x1), y0, w, y1)
        zh = f"头部离画面{side_zh}边太近（{m:.0f} 像素，要求 ≥ {t.pass_min:g}）：请把人像居中"
        en = f"the head is {m:.0f} px from the {'left' if left < right else 'right'} edge (≥ {t.pass_min:g} required): centre the subject"
        reason = "off_centre"
    return result(NAME, st, measured=r1(m), expected=expected, reason=reason, unit="px", region=region, zh=zh, en=en)
