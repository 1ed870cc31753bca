"""``background_uniformity``: the backdrop is even — no gradient, shadow, object or second person.

Rule (spec §4).  Measured on the small working copy, over every non-person pixel (kept
2 px off the person's edge): the standard deviation of L*, and the largest CIEDE2000
difference between the mean colours of the corner patches (``patch_px`` square, full
resolution; patches mostly covered by the person are skipped).

Grading: std ≤ ``pass_std`` and corners ≤ ``pass_corner_de`` pass; up to
``warn_factor`` times those warn; beyond fail.
Profile keys: ``pass_std`` (L* units), ``pass_corner_de`` (ΔE₀₀), ``warn_factor``,
``patch_px`` (px).
Known limits: a smooth gradient inside the limits passes by design; shadows cast by
the student right next to the body may be counted as person and escape the measure.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..colour import delta_e2000
from ._common import FAIL, PASS, WARN, not_assessed, r1, result

NAME = "background_uniformity"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels",)


@dataclass(frozen=True)
class Thresholds:
    """``pass_std``: L* std; ``pass_corner_de``: ΔE₀₀; ``warn_factor``: ×; ``patch_px``: px."""

    pass_std: float
    pass_corner_de: float
    warn_factor: float
    patch_px: int


def measure(ctx, patch_px: int) -> tuple[float, float | None]:
    """``(std of L*, max corner ΔE₀₀ or None)`` over the backdrop of ``ctx``."""
    import cv2  # noqa: PLC0415

    seg = ctx.segmentation
    lab = seg.lab_small
    notp = cv2.erode((~seg.person_small).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if notp.sum() < 50:
        return float("nan"), None
    std = float(lab[..., 0][notp].std())
    sh, sw = notp.shape
    k = max(2, int(round(patch_px * seg.scale)))
    means = []
    for y0, x0 in ((0, 0), (0, sw - k), (sh - k, 0), (sh - k, sw - k)):
        m = notp[y0:y0 + k, x0:x0 + k]
        if m.mean() >= 0.7:
            means.append(lab[y0:y0 + k, x0:x0 + k][m].mean(axis=0))
    worst = None
    for i in range(len(means)):
        for j in range(i + 1, len(means)):
            d = float(delta_e2000(means[i], means[j]))
            worst = d if worst is None else max(worst, d)
    return std, worst


def check(ctx, t: Thresholds):
    expected = f"L* 标准差 ≤ {t.pass_std:g}，四角色差 ΔE₀₀ ≤ {t.pass_corner_de:g}"
    std, corner = ctx.memo("bg_uniformity", lambda: measure(ctx, t.patch_px))
    if np.isnan(std):
        return not_assessed(NAME, "no_backdrop", "画面中几乎看不到背景，无法判断背景均匀度",
                            "hardly any backdrop visible: evenness not judged", expected=expected)
    c = corner if corner is not None else 0.0
    measured = {"l_std": r1(std), "corner_de": r1(c) if corner is not None else None}
    ratio = max(std / t.pass_std, c / t.pass_corner_de)
    if ratio <= 1.0:
        return result(NAME, PASS, measured=measured, expected=expected)
    st = WARN if ratio <= t.warn_factor else FAIL
    if c / t.pass_corner_de >= std / t.pass_std:
        zh = f"背景明暗/颜色不均（四角色差 ΔE {c:.1f}，要求 ≤ {t.pass_corner_de:g}）：请调匀背景灯光，避免渐变和阴影"
        en = f"backdrop uneven (corner difference ΔE {c:.1f}, ≤ {t.pass_corner_de:g} required): even out the backdrop lighting, no gradient or shadow"
        reason = "gradient"
    else:
        zh = f"背景不干净（亮度标准差 {std:.1f}，要求 ≤ {t.pass_std:g}）：背景有阴影、杂物或图案，请清理背景并调匀灯光"
        en = f"backdrop not clean (L* std {std:.1f}, ≤ {t.pass_std:g} required): shadows, objects or pattern; clear the backdrop and even the light"
        reason = "busy"
    return result(NAME, st, measured=measured, expected=expected, reason=reason,
                  region=(0, 0, ctx.width, ctx.height), zh=zh, en=en)
