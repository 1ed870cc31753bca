"""``glasses_glare``: no reflections on spectacle lenses.

Rule (spec §4: glasses allowed, no glare).  Measured: the share of bright unsaturated
pixels (luma ≥ ``luma_min``, HSV saturation ≤ ``sat_max``) in two lens-sized boxes of
the normalised crop (``lens_width`` × ``lens_height`` eye distances, centred on each eye
centre).  Catch-lights in the pupils are a few pixels; a lens reflection covers a
patch.  Above ``warn_share`` warn (spec: warn only).

Profile keys: ``luma_min`` (0–255), ``sat_max`` (0–1), ``lens_width``, ``lens_height``
(eye distances), ``warn_share`` (0–1).
Known limits: does not know whether glasses are worn: an over-exposed face without
glasses can warn here too (``exposure`` then fails as well).
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import CROP_EYE_DISTANCE, PASS, WARN, face_crop, r1, result
from .highlights import specular_mask

NAME = "glasses_glare"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """See module doc for units."""

    luma_min: int
    sat_max: float
    lens_width: float
    lens_height: float
    warn_share: float


def measure(ctx, t: Thresholds) -> float:
    fc = face_crop(ctx)
    spec = specular_mask(ctx, t.luma_min, t.sat_max)
    h, w = fc.gray.shape
    hw, hh = t.lens_width * CROP_EYE_DISTANCE / 2.0, t.lens_height * CROP_EYE_DISTANCE / 2.0
    total = hits = 0
    for sl in (slice(36, 42), slice(42, 48)):
        cx, cy = fc.landmarks[sl].mean(axis=0)
        x0, x1 = int(max(0, cx - hw)), int(min(w, cx + hw))
        y0, y1 = int(max(0, cy - hh)), int(min(h, cy + hh))
        box = spec[y0:y1, x0:x1] & fc.valid[y0:y1, x0:x1]
        total += int(fc.valid[y0:y1, x0:x1].sum())
        hits += int(box.sum())
    return hits / total if total else 0.0


def check(ctx, t: Thresholds):
    share = measure(ctx, t)
    expected = f"≤ {100 * t.warn_share:g}%"
    if share <= t.warn_share:
        return result(NAME, PASS, measured=r1(share, 4), expected=expected, unit="share")
    lm = ctx.face.landmarks[36:48]
    region = (lm[:, 0].min() - 20, lm[:, 1].min() - 20, lm[:, 0].max() + 20, lm[:, 1].max() + 20)
    return result(NAME, WARN, measured=r1(share, 4), expected=expected, reason="glare", unit="share", region=region,
                  zh=f"眼镜片反光（眼部 {100 * share:.1f}% 为反光，要求 ≤ {100 * t.warn_share:g}%）：请让学生稍微低头或把灯移高/移到两侧 45°，或摘下眼镜（非常戴者）",
                  en=f"glare on the glasses ({100 * share:.1f}% of the eye area, ≤ {100 * t.warn_share:g}% allowed): tilt the head slightly down or move the lamps higher / to 45°")
