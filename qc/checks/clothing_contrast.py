"""``clothing_contrast``: the top stands out from the backdrop (no blue top on blue).

Rule (spec §4; upstream label 黑边检测, whose usual cause this is).  Measured: the share
of pixels in a torso box that lie within ``near_de`` (ΔE*ab) of the backdrop model.
The torso box is placed by the face, not by the mask (the mask is what fails when the
clothes match the backdrop): x within ``torso_half_width`` face widths of the face
centre, y from ``torso_top`` face widths below the chin to the bottom edge.

Profile keys: ``near_de``, ``torso_half_width``, ``torso_top``, ``pass_max_share``,
``warn_max_share``.
Known limits: a very slim student (box wider than the body) shows backdrop at the box
corners; the pass limit leaves room for that.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import PASS, check_order, grade_high, not_assessed, r1, result

NAME = "clothing_contrast"
LABEL_ZH = "黑边检测"
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """``near_de`` in ΔE*ab; box sizes in face widths; shares as fractions 0–1."""

    near_de: float
    torso_half_width: float
    torso_top: float
    pass_max_share: float
    warn_max_share: float

    def __post_init__(self):
        check_order("pass_max_share", self.pass_max_share, "warn_max_share", self.warn_max_share)


def torso_box(ctx, half_width: float, top: float) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of the torso box in full-image px, or ``None`` when it is empty."""
    f = ctx.face
    fw = max(f.jaw_width, f.box.width * 0.9)
    cx = float(f.landmarks[27:31, 0].mean())
    x0, x1 = int(max(0, cx - half_width * fw)), int(min(ctx.width, cx + half_width * fw))
    y0 = int(f.chin[1] + top * fw)
    y1 = ctx.height
    if y1 - y0 < 4 or x1 - x0 < 4:
        return None
    return x0, y0, x1, y1


def near_backdrop_share(ctx, t: Thresholds) -> float | None:
    """Share of the torso box within ``near_de`` of the backdrop model, or ``None``."""
    box = torso_box(ctx, t.torso_half_width, t.torso_top)
    if box is None:
        return None
    seg = ctx.segmentation
    s = seg.scale
    x0, y0, x1, y1 = (int(v * s) for v in box)
    de = seg.backdrop_de[y0:max(y0 + 1, y1), x0:max(x0 + 1, x1)]
    return float((de < t.near_de).mean()) if de.size else None


def check(ctx, t: Thresholds):
    expected = f"与背景相近的躯干像素 ≤ {100 * t.pass_max_share:.0f}%"
    share = ctx.memo(("clothing_share", t), lambda: near_backdrop_share(ctx, t))
    if share is None:
        return not_assessed(NAME, "no_torso", "画面中看不到上身，无法判断服装颜色", "no torso in frame: clothing not judged",
                            label=LABEL_ZH, expected=expected)
    st = grade_high(share, t.pass_max_share, t.warn_max_share)
    if st is PASS:
        return result(NAME, PASS, measured=r1(share, 3), expected=expected, unit="share", label=LABEL_ZH)
    return result(NAME, st, measured=r1(share, 3), expected=expected, reason="like_backdrop", unit="share", label=LABEL_ZH,
                  region=torso_box(ctx, t.torso_half_width, t.torso_top),
                  zh=f"上衣颜色与背景太接近（{100 * share:.0f}% 的躯干与背景同色，要求 ≤ {100 * t.pass_max_share:.0f}%）：请换深色或与背景反差大的上衣（不要穿蓝色）",
                  en=f"top too close to the backdrop colour ({100 * share:.0f}% of the torso, ≤ {100 * t.pass_max_share:.0f}% allowed): wear a dark or contrasting top (not blue)")
