"""``exposure``: the face is neither too dark nor too bright, with few clipped pixels.

Rule (spec §4).  Measured on the face (landmark hull of the normalised crop): mean luma
(BT.601, 0–255) and the share of clipped pixels (luma ≤ ``clip_low`` or ≥
``clip_high``).  Mean in ``[pass_min, pass_max]`` and clipped ≤ ``clip_pass_max`` pass;
mean outside ``[fail_min, fail_max]`` or clipped > ``clip_warn_max`` fail; else warn.

Profile keys: ``pass_min``, ``pass_max``, ``fail_min``, ``fail_max`` (luma),
``clip_low``, ``clip_high`` (luma), ``clip_pass_max``, ``clip_warn_max`` (shares 0–1).
Known limits: very dark skin under correct exposure reads darker; the pass band is wide
for that reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import FAIL, PASS, WARN, check_order, face_crop, r1, result

NAME = "exposure"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Luma levels 0–255 and shares 0–1 (see module doc)."""

    pass_min: float
    pass_max: float
    fail_min: float
    fail_max: float
    clip_low: int
    clip_high: int
    clip_pass_max: float
    clip_warn_max: float

    def __post_init__(self):
        check_order("fail_min", self.fail_min, "pass_min", self.pass_min)
        check_order("pass_min", self.pass_min, "pass_max", self.pass_max)
        check_order("pass_max", self.pass_max, "fail_max", self.fail_max)
        check_order("clip_pass_max", self.clip_pass_max, "clip_warn_max", self.clip_warn_max)


def measure(ctx, t: Thresholds) -> tuple[float, float]:
    """``(mean luma, clipped share)`` over the face."""
    fc = face_crop(ctx)
    g = fc.gray[fc.face_mask]
    if g.size == 0:
        raise ValueError("empty face region")
    clipped = float(((g <= t.clip_low) | (g >= t.clip_high)).mean())
    return float(g.mean()), clipped


def check(ctx, t: Thresholds):
    mean, clipped = measure(ctx, t)
    expected = f"面部亮度 {t.pass_min:g}–{t.pass_max:g}，过曝/欠曝像素 ≤ {100 * t.clip_pass_max:g}%"
    measured = {"mean": r1(mean), "clipped": r1(clipped, 4)}
    if t.pass_min <= mean <= t.pass_max and clipped <= t.clip_pass_max:
        return result(NAME, PASS, measured=measured, expected=expected)
    fail = mean < t.fail_min or mean > t.fail_max or clipped > t.clip_warn_max
    st = FAIL if fail else WARN
    b = ctx.face.box.clipped(ctx.width, ctx.height)
    region = (b.left, b.top, b.right, b.bottom)
    if mean < t.pass_min:
        return result(NAME, st, measured=measured, expected=expected, reason="dark", region=region,
                      zh=f"面部太暗（平均亮度 {mean:.0f}，要求 {t.pass_min:g}–{t.pass_max:g}）：请增加面部补光或调高曝光",
                      en=f"face too dark (mean {mean:.0f}, {t.pass_min:g}–{t.pass_max:g} required): add light on the face or raise the exposure")
    if mean > t.pass_max:
        return result(NAME, st, measured=measured, expected=expected, reason="bright", region=region,
                      zh=f"面部过亮（平均亮度 {mean:.0f}，要求 {t.pass_min:g}–{t.pass_max:g}）：请减弱灯光或降低曝光",
                      en=f"face too bright (mean {mean:.0f}, {t.pass_min:g}–{t.pass_max:g} required): dim the lights or lower the exposure")
    return result(NAME, st, measured=measured, expected=expected, reason="clipped", region=region,
                  zh=f"面部有 {100 * clipped:.1f}% 的像素过曝或死黑（要求 ≤ {100 * t.clip_pass_max:g}%）：请调整曝光，让灯光更柔和",
                  en=f"{100 * clipped:.1f}% of the face is clipped (≤ {100 * t.clip_pass_max:g}% allowed): adjust the exposure, soften the light")
