"""``dpi``: the JFIF header records the required resolution (300 × 300 dpi).

Rule (spec §2).  Missing or other density → warn (upstream re-tags, but it signals a
wrong export path).  Profile keys: ``dpi``, ``tolerance`` (dpi).
Known limits: only the JFIF density (dots/inch or dots/cm converted) is read, not EXIF
XResolution.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import PASS, WARN, result

NAME = "dpi"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels",)


@dataclass(frozen=True)
class Thresholds:
    """``dpi``: required density (dots per inch); ``tolerance``: allowed difference (dpi)."""

    dpi: float
    tolerance: float


def check(ctx, t: Thresholds):
    d = ctx.facts.dpi
    expected = f"{t.dpi:g}×{t.dpi:g} dpi"
    if d is None:
        return result(NAME, WARN, measured=None, expected=expected, reason="missing", unit="dpi",
                      zh=f"照片未记录分辨率（dpi），要求 {t.dpi:g} dpi：请用采集软件导出（会写入 {t.dpi:g} dpi）",
                      en=f"no resolution (dpi) recorded, {t.dpi:g} dpi required: export through the capture software")
    dx, dy = d
    measured = f"{dx:g}×{dy:g}"
    if abs(dx - t.dpi) <= t.tolerance and abs(dy - t.dpi) <= t.tolerance:
        return result(NAME, PASS, measured=measured, expected=expected, unit="dpi")
    return result(NAME, WARN, measured=measured, expected=expected, reason="wrong", unit="dpi",
                  zh=f"分辨率为 {dx:g}×{dy:g} dpi，要求 {t.dpi:g} dpi：请在导出设置中改为 {t.dpi:g} dpi",
                  en=f"resolution is {dx:g}×{dy:g} dpi, {t.dpi:g} dpi required: set {t.dpi:g} dpi on export")
