"""``background_colour``: the backdrop is the target colour (light blue RGB 100,197,255).

Rule (spec §4).  Measured: CIEDE2000 ΔE₀₀ between the target and the median CIELAB
colour of the backdrop pixels (person masked out; the confident-backdrop mask when the
segmentation is reliable, else every non-person pixel, so a busy backdrop reads far
from any plain colour).

Profile keys: ``target_rgb`` (sRGB 0–255), ``pass_max_de``, ``warn_max_de`` (ΔE₀₀),
``min_share`` (smallest share of the image that must be backdrop to judge).
Known limits: the camera's white balance shifts the measured colour; calibrate the
station with the backdrop first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..colour import delta_e2000, lab_to_rgb1, rgb_to_lab1
from ._common import PASS, check_order, grade_high, masked, median_rows, not_assessed, r1, result

NAME = "background_colour"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels",)


@dataclass(frozen=True)
class Thresholds:
    """Target colour as sRGB ``(r, g, b)``; ΔE₀₀ limits; ``min_share`` of the image (0–1)."""

    target_rgb: tuple[int, int, int]
    pass_max_de: float
    warn_max_de: float
    min_share: float

    def __post_init__(self):
        check_order("pass_max_de", self.pass_max_de, "warn_max_de", self.warn_max_de)
        if any(not 0 <= v <= 255 for v in self.target_rgb):
            raise ValueError("target_rgb values must be 0–255")


def backdrop_pixels(ctx) -> np.ndarray:
    """CIELAB ``(N, 3)`` of the backdrop pixels on the small working copy (memoised)."""
    def make():
        import cv2  # noqa: PLC0415

        seg = ctx.segmentation
        lab = seg.lab_small
        if seg.reliable:
            m = seg.background_small
        else:
            m = ~seg.person_small
        # Keep off the person's edge (hair fringe, halo): erode by 2 working px.
        m = cv2.erode(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        return masked(lab, m)

    return ctx.memo("backdrop_pixels", make)


def backdrop_median(ctx) -> np.ndarray | None:
    """Median CIELAB ``(3,)`` of :func:`backdrop_pixels`, or ``None`` without any (memoised;
    shared with ``exposure``, which reads the backdrop's level)."""
    def make():
        px = backdrop_pixels(ctx)
        # Per channel on contiguous rows: the same medians as np.median(px, axis=0),
        # without partitioning a strided (N, 3) view (3× faster here).
        return median_rows(np.ascontiguousarray(px.T)) if len(px) else None

    return ctx.memo("backdrop_median", make)


def check(ctx, t: Thresholds):
    expected = f"ΔE₀₀ ≤ {t.pass_max_de:g}（目标 RGB {t.target_rgb[0]},{t.target_rgb[1]},{t.target_rgb[2]}）"
    px = backdrop_pixels(ctx)
    seg = ctx.segmentation
    share = len(px) / float(seg.lab_small.shape[0] * seg.lab_small.shape[1])
    if share < t.min_share:
        return not_assessed(NAME, "no_backdrop", "画面中几乎看不到背景，无法判断背景颜色",
                            "hardly any backdrop visible: colour not judged", expected=expected, unit="ΔE00")
    med = backdrop_median(ctx)
    target = rgb_to_lab1(t.target_rgb)
    de = float(delta_e2000(med, np.array(target)))
    st = grade_high(de, t.pass_max_de, t.warn_max_de)
    if st is PASS:
        return result(NAME, PASS, measured=r1(de), expected=expected, unit="ΔE00")
    rgb = lab_to_rgb1(med)
    dl = med[0] - target[0]
    hint_zh = "背景偏暗，请给背景补光" if dl < -8 else ("背景偏亮/过曝，请减弱背景灯" if dl > 8 else "请更换为标准浅蓝色背景布，并校准相机白平衡")
    hint_en = ("backdrop too dark: light the backdrop" if dl < -8 else
               ("backdrop too bright: dim the backdrop light" if dl > 8 else "use the standard light-blue backdrop and set the white balance"))
    if not seg.reliable:
        hint_zh, hint_en = "背景不是纯色（有景物或图案）：请在标准浅蓝色背景布前拍摄", "backdrop not plain (scene or pattern): shoot in front of the light-blue backdrop"
    return result(NAME, st, measured=r1(de), expected=expected, reason="off_target", unit="ΔE00",
                  region=(0, 0, ctx.width, max(1, int(seg.crown_y or ctx.height // 6))),
                  zh=f"背景颜色 RGB({rgb[0]},{rgb[1]},{rgb[2]}) 与标准色相差 ΔE {de:.1f}（要求 ≤ {t.pass_max_de:g}）：{hint_zh}",
                  en=f"backdrop colour RGB({rgb[0]},{rgb[1]},{rgb[2]}) is ΔE {de:.1f} from the target (≤ {t.pass_max_de:g} required): {hint_en}")
