"""``colour_mode``: 24-bit colour RGB (3 channels × 8 bits), not grey, CMYK, alpha or 16-bit.

Rule (spec §2).  The mode comes from the file; "chroma spread" catches a greyscale
picture stored as RGB: the 95th percentile of CIELAB chroma C*ab over the image must
reach ``min_chroma_p95``.  Measured on the segmentation's small CIELAB working copy
(``Segmentation.lab_small``, ~240 px wide, shared with the backdrop checks: one
downscaled copy, one colour conversion per photo; every other pixel of it, ~120 px) —
on a ≤ 160 px copy of its own only when the segmentation cannot run.

Profile keys: ``bits``, ``min_chroma_p95``.
Known limits: a photo of a grey-clad student on a grey backdrop is colour but could
read as grey; on the blue backdrop the backdrop alone gives ample chroma.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import FAIL, PASS, quantile, r1, result

NAME = "colour_mode"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels",)

_MODE_ZH = {"L": "灰度", "LA": "灰度+透明通道", "1": "黑白二值", "P": "调色板", "PA": "调色板+透明通道",
            "RGBA": "RGB+透明通道", "CMYK": "CMYK", "YCbCr": "YCbCr", "I;16": "16 位灰度", "I": "32 位整数",
            "F": "浮点"}


@dataclass(frozen=True)
class Thresholds:
    """``bits``: bits per channel; ``min_chroma_p95``: C*ab (CIELAB units)."""

    bits: int
    min_chroma_p95: float


def chroma_p95(rgb: np.ndarray) -> float:
    """95th percentile of C*ab = sqrt(a*² + b*²) over a ≤ 160 px copy of ``rgb`` ``(H, W, 3)``."""
    import cv2  # noqa: PLC0415

    from ..segment import rgb_to_lab  # noqa: PLC0415

    h, w = rgb.shape[:2]
    s = min(1.0, 160.0 / max(h, w))
    small = cv2.resize(rgb, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else rgb
    lab = rgb_to_lab(small)
    c = np.hypot(lab[..., 1], lab[..., 2])
    return float(np.percentile(c, 95))


def _chroma(ctx) -> float:
    try:
        lab = ctx.segmentation.lab_small
    except Exception:  # noqa: BLE001 - the segmentation's own failure is reported by its checks
        lab = None
    if lab is None:
        return chroma_p95(ctx.rgb)
    lab = lab[::2, ::2]  # every other pixel of the working copy: plenty for a 95th percentile
    # np.percentile(…, 95) through one partition (a third of numpy's dispatch cost).
    return quantile(np.hypot(lab[..., 1], lab[..., 2]).ravel(), 0.95)


def check(ctx, t: Thresholds):
    facts = ctx.facts
    expected = f"RGB {3 * t.bits} 位彩色（3×{t.bits} bit）"
    mode = facts.mode or "?"
    bits = facts.bits or t.bits
    if mode != "RGB" or bits != t.bits:
        name_zh = _MODE_ZH.get(mode, mode)
        return result(NAME, FAIL, measured=f"{mode} {bits}-bit", expected=expected, reason=f"mode_{mode.lower().replace(';', '')}",
                      zh=f"颜色模式为 {name_zh}（{mode}，{bits} 位），要求 24 位 RGB 彩色：请在相机/软件中选择 RGB 彩色 JPEG 输出",
                      en=f"colour mode is {mode} ({bits}-bit), 24-bit RGB colour required: set the camera/software to RGB colour JPEG")
    c = _chroma(ctx)
    if c < t.min_chroma_p95:
        return result(NAME, FAIL, measured=f"RGB, chroma {r1(c)}", expected=expected, reason="grey",
                      zh=f"照片实际为灰度（色度 {c:.1f}，要求 ≥ {t.min_chroma_p95:g}）：请关闭黑白/单色模式，用彩色拍摄",
                      en=f"photo is greyscale content (chroma {c:.1f} < {t.min_chroma_p95:g}): turn off the monochrome mode")
    return result(NAME, PASS, measured="RGB 24-bit", expected=expected)
