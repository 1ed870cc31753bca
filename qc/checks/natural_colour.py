"""``natural_colour``: skin tones look natural (no colour cast, no filter).

Rule (spec §4).  Measured: the median CIELAB a* and b* of the two cheek patches of the
normalised crop.  Inside ``[a_min, a_max]`` × ``[b_min, b_max]`` pass, else warn (a cast
is for the operator to judge; spec gives no fail level).

Profile keys: ``a_min``, ``a_max``, ``b_min``, ``b_max`` (CIELAB units).
Known limits: the band covers the skin tones of the corpus (calibrated); make-up and
strongly coloured light both move it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import PASS, WARN, check_order, cheek_masks, face_crop, masked, median_rows, r1, result

NAME = "natural_colour"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Band of skin a* and b* (CIELAB)."""

    a_min: float
    a_max: float
    b_min: float
    b_max: float

    def __post_init__(self):
        check_order("a_min", self.a_min, "a_max", self.a_max)
        check_order("b_min", self.b_min, "b_max", self.b_max)


def skin_ab(ctx) -> tuple[float, float]:
    """Median ``(a*, b*)`` over both cheek patches."""
    from ..segment import rgb_to_lab  # noqa: PLC0415

    l, r = cheek_masks(ctx)
    # Only the cheek pixels are converted (per-pixel conversion: the same values as
    # indexing a CIELAB copy of the whole crop, at a tenth of the cost).
    px = rgb_to_lab(masked(face_crop(ctx).rgb, l | r))
    if len(px) < 20:
        raise ValueError("cheek patches empty")
    a, b = median_rows(np.ascontiguousarray(px[:, 1:].T))
    return float(a), float(b)


def check(ctx, t: Thresholds):
    a, b = ctx.memo("skin_ab", lambda: skin_ab(ctx))
    expected = f"a* {t.a_min:g}–{t.a_max:g}，b* {t.b_min:g}–{t.b_max:g}"
    measured = {"a": r1(a), "b": r1(b)}
    if t.a_min <= a <= t.a_max and t.b_min <= b <= t.b_max:
        return result(NAME, PASS, measured=measured, expected=expected)
    if a > t.a_max:
        cast_zh, cast_en = "偏红/偏品红", "red/magenta"
    elif b > t.b_max:
        cast_zh, cast_en = "偏黄", "yellow"
    elif b < t.b_min:
        cast_zh, cast_en = "偏蓝/发灰", "blue/grey"
    else:
        cast_zh, cast_en = "偏绿/发灰", "green/grey"
    bx = ctx.face.box.clipped(ctx.width, ctx.height)
    return result(NAME, WARN, measured=measured, expected=expected, reason="cast",
                  region=(bx.left, bx.top, bx.right, bx.bottom),
                  zh=f"肤色不自然（{cast_zh}，a*={a:.1f}，b*={b:.1f}）：请校准白平衡（5500K 日光灯），关闭美颜/滤镜",
                  en=f"skin colour looks unnatural ({cast_en}, a*={a:.1f}, b*={b:.1f}): set the white balance (5500 K lamps), turn off beauty filters")
