"""``exposure``: the face is neither too dark nor too bright, with few clipped pixels, and
the photo as a whole is not under-exposed (read from the blue backdrop's level).

Rule (spec §4).  Two measures:

* the face (landmark hull of the normalised crop): mean luma (BT.601, 0–255) and the
  share of clipped pixels (luma ≤ ``clip_low`` or ≥ ``clip_high``).  Mean in
  ``[pass_min, pass_max]`` and clipped ≤ ``clip_pass_max`` pass; mean outside
  ``[fail_min, fail_max]`` or clipped > ``clip_warn_max`` fail; else warn.  This band is
  the spec's expectation for skin and has to be wide: very dark skin under a correct
  exposure reads ~85–105, a face one stop under-exposed reads 55–90 — the face alone
  cannot tell them apart.
* the backdrop's level: when the backdrop is the spec's blue (``backdrop_rgb``; hue of
  the median backdrop colour within ``backdrop_hue_tol_deg`` of the target's and chroma
  C*ab ≥ ``backdrop_min_chroma``), ``backdrop_dl`` = its L* minus the target's L*.
  The backdrop is a known reflectance under the station's lights, so a low level means
  the whole photo is under-exposed (all pixel values × 0.5 lowers it by ~36 L*).  It
  counts only when the face is below ``backdrop_face_max`` too: a face at or above that
  level is exposed well whatever the backdrop reads, and an unlit backdrop is
  ``background_colour``'s finding.  ``backdrop_dl`` ≥ ``backdrop_dl_pass_min`` passes,
  ≥ ``backdrop_dl_warn_min`` warns, below fails.

``measured``: ``mean``, ``clipped``, and ``backdrop_dl`` only when the backdrop is the
spec's colour.

Profile keys: ``pass_min``, ``pass_max``, ``fail_min``, ``fail_max`` (luma),
``clip_low``, ``clip_high`` (luma), ``clip_pass_max``, ``clip_warn_max`` (shares 0–1),
``backdrop_rgb`` (sRGB, must equal ``background_colour.target_rgb``),
``backdrop_hue_tol_deg``, ``backdrop_min_chroma``, ``backdrop_dl_pass_min``,
``backdrop_dl_warn_min`` (L*), ``backdrop_face_max`` (luma).  Calibrated on corpus
portraits composed on the backdrop and darkened/brightened × 0.4 … × 1.6
(``tools/calibration/out/exposure_steps.csv``).
Known limits: over-exposure is judged on the face only (a brightened backdrop clips
towards cyan/white and leaves the hue gate); on a backdrop of another colour only the
face is judged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import FAIL, PASS, WARN, check_order, face_crop, r1, result

NAME = "exposure"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Luma levels 0–255, shares 0–1, L* differences, degrees (see module doc)."""

    pass_min: float
    pass_max: float
    fail_min: float
    fail_max: float
    clip_low: int
    clip_high: int
    clip_pass_max: float
    clip_warn_max: float
    backdrop_rgb: tuple[int, int, int]
    backdrop_hue_tol_deg: float
    backdrop_min_chroma: float
    backdrop_dl_pass_min: float
    backdrop_dl_warn_min: float
    backdrop_face_max: float

    def __post_init__(self):
        check_order("fail_min", self.fail_min, "pass_min", self.pass_min)
        check_order("pass_min", self.pass_min, "pass_max", self.pass_max)
        check_order("pass_max", self.pass_max, "fail_max", self.fail_max)
        check_order("clip_pass_max", self.clip_pass_max, "clip_warn_max", self.clip_warn_max)
        check_order("backdrop_dl_warn_min", self.backdrop_dl_warn_min, "backdrop_dl_pass_min", self.backdrop_dl_pass_min)
        if len(self.backdrop_rgb) != 3 or any(not 0 <= v <= 255 for v in self.backdrop_rgb):
            raise ValueError("backdrop_rgb must be three values 0–255")


def measure(ctx, t: Thresholds) -> tuple[float, float]:
    """``(mean luma, clipped share)`` over the face."""
    fc = face_crop(ctx)
    g = fc.gray[fc.face_mask]
    if g.size == 0:
        raise ValueError("empty face region")
    clipped = float(((g <= t.clip_low) | (g >= t.clip_high)).mean())
    return float(g.mean()), clipped


def backdrop_dl(ctx, t: Thresholds) -> float | None:
    """L* of the backdrop minus the target's when the backdrop is the spec's colour, else ``None``."""
    from ..colour import rgb_to_lab1  # noqa: PLC0415
    from .background_colour import backdrop_median  # noqa: PLC0415

    try:
        med = backdrop_median(ctx)
    except Exception:  # noqa: BLE001 - no backdrop reading: judge the face alone (the
        return None    # segmentation's failure shows in the backdrop checks)
    if med is None:
        return None
    target = rgb_to_lab1(t.backdrop_rgb)
    if np.hypot(med[1], med[2]) < t.backdrop_min_chroma:
        return None
    hue = np.degrees(np.arctan2(med[2], med[1]))
    hue_t = np.degrees(np.arctan2(target[2], target[1]))
    if abs((hue - hue_t + 180.0) % 360.0 - 180.0) > t.backdrop_hue_tol_deg:
        return None
    return float(med[0] - target[0])


def check(ctx, t: Thresholds):
    mean, clipped = measure(ctx, t)
    dl = backdrop_dl(ctx, t)
    expected = (f"面部亮度 {t.pass_min:g}–{t.pass_max:g}，过曝/欠曝像素 ≤ {100 * t.clip_pass_max:g}%；"
                f"蓝色背景亮度不低于标准 L* {-t.backdrop_dl_pass_min:g} 以上")
    measured = {"mean": r1(mean), "clipped": r1(clipped, 4)}
    if dl is not None:   # only when the backdrop is the spec's colour (else not judged)
        measured["backdrop_dl"] = r1(dl)
    face_ok = t.pass_min <= mean <= t.pass_max and clipped <= t.clip_pass_max
    # The backdrop's level speaks only for a face that is not clearly well exposed.
    dim = dl is not None and mean < t.backdrop_face_max and dl < t.backdrop_dl_pass_min
    if face_ok and not dim:
        return result(NAME, PASS, measured=measured, expected=expected)
    b = ctx.face.box.clipped(ctx.width, ctx.height)
    region = (b.left, b.top, b.right, b.bottom)
    st_face = PASS if face_ok else (
        FAIL if mean < t.fail_min or mean > t.fail_max or clipped > t.clip_warn_max else WARN)
    st_dim = PASS if not dim else (FAIL if dl < t.backdrop_dl_warn_min else WARN)
    order = {PASS: 0, WARN: 1, FAIL: 2}
    st = st_face if order[st_face] >= order[st_dim] else st_dim
    if dim and (mean <= t.pass_max) and order[st_dim] >= order[st_face]:
        return result(NAME, st, measured=measured, expected=expected, reason="underexposed", region=region,
                      zh=f"照片整体曝光不足（面部平均亮度 {mean:.0f}，蓝色背景比标准暗 L* {-dl:.0f}）：请调高相机曝光或增加灯光",
                      en=f"the photo is under-exposed (face mean {mean:.0f}, blue backdrop {-dl:.0f} L* darker than the standard): raise the exposure or add light")
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
