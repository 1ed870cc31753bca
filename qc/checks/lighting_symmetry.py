"""``lighting_symmetry``: both halves of the face are lit alike (no 阴阳脸).

Rule (spec §4).  Measured: |mean luma of the left half − right half| / mean of both,
over the face hull of the normalised (levelled) crop split at the nose line (mean x of
landmarks 27–30).  ≤ 0.12 pass, 0.12–0.25 warn, beyond fail (calibrated).

Profile keys: ``pass_max``, ``warn_max`` (ratio).
Known limits: a strongly turned head shows more of one cheek (``head_pose``); a beard
or hair over one cheek darkens that half.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import PASS, check_order, face_crop, grade_high, masked, r1, result

NAME = "lighting_symmetry"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Limits on the relative left/right luma difference (0–2)."""

    pass_max: float
    warn_max: float

    def __post_init__(self):
        check_order("pass_max", self.pass_max, "warn_max", self.warn_max)


def measure(ctx) -> tuple[float, float, float]:
    """``(ratio, left mean, right mean)`` of luma; left/right as seen in the image."""
    fc = face_crop(ctx)
    xm = float(fc.landmarks[27:31, 0].mean())
    w = fc.gray.shape[1]
    # Columns left of xm − 2 and right of xm + 2, as slices (no coordinate grid).
    cl = int(min(w, max(0, np.ceil(xm - 2))))
    cr = int(min(w, max(0, np.floor(xm + 2) + 1)))
    left = masked(fc.gray[:, :cl], fc.face_mask[:, :cl]).astype(np.float64)
    right = masked(fc.gray[:, cr:], fc.face_mask[:, cr:]).astype(np.float64)
    if left.size < 50 or right.size < 50:
        raise ValueError("face halves too small")
    lm, rm = float(left.mean()), float(right.mean())
    return abs(lm - rm) / max(1.0, (lm + rm) / 2.0), lm, rm


def check(ctx, t: Thresholds):
    ratio, lm, rm = ctx.memo("lighting_symmetry", lambda: measure(ctx))
    expected = f"≤ {t.pass_max:g}"
    st = grade_high(ratio, t.pass_max, t.warn_max)
    if st is PASS:
        return result(NAME, PASS, measured=r1(ratio, 3), expected=expected, unit="ratio")
    dark_zh = "画面左侧" if lm < rm else "画面右侧"
    dark_en = "image-left" if lm < rm else "image-right"
    b = ctx.face.box.clipped(ctx.width, ctx.height)
    return result(NAME, st, measured=r1(ratio, 3), expected=expected, reason="uneven", unit="ratio",
                  region=(b.left, b.top, b.right, b.bottom),
                  zh=f"面部左右光线不均（阴阳脸，差 {100 * ratio:.0f}%，要求 ≤ {100 * t.pass_max:.0f}%）：{dark_zh}的脸偏暗，请在该侧补光或把两盏灯调成对称 45°",
                  en=f"uneven light on the face ({100 * ratio:.0f}% difference, ≤ {100 * t.pass_max:.0f}% allowed): the {dark_en} half is darker, add light on that side or set both lamps symmetric at 45°")
