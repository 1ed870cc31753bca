"""``highlights``: no hot spots or shine on the face.

Rule (spec §4).  Measured: share of face pixels (landmark hull of the normalised crop,
eyes excluded) that are specular: luma ≥ ``luma_min`` and HSV saturation ≤
``sat_max`` (very bright and whitish).  ≤ 0.5 % pass, 0.5–2 % warn, beyond fail.

Profile keys: ``luma_min`` (0–255), ``sat_max`` (0–1), ``pass_max``, ``warn_max`` (shares).
Known limits: very fair skin under strong light can read as shine; white-blond eyebrows
count.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import PASS, check_order, face_crop, grade_high, r1, result

NAME = "highlights"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """``luma_min`` 0–255, ``sat_max`` 0–1, shares 0–1."""

    luma_min: int
    sat_max: float
    pass_max: float
    warn_max: float

    def __post_init__(self):
        check_order("pass_max", self.pass_max, "warn_max", self.warn_max)


def specular(rgb: np.ndarray, gray: np.ndarray, luma_min: int, sat_max: float) -> np.ndarray:
    """``(H, W)`` bool: bright (luma ≥ ``luma_min``) and unsaturated (HSV S ≤ ``sat_max``) pixels."""
    bright = gray >= luma_min
    idx = np.flatnonzero(bright)
    if len(idx) == 0:
        return bright
    # Saturation of the bright pixels only (usually a few hundred of the crop's 62 400).
    px = rgb.reshape(-1, 3).take(idx, axis=0)
    r, g, b = px[:, 0], px[:, 1], px[:, 2]
    # Elementwise max/min of the channels: the same values as px.max(axis=-1), without
    # numpy's slow reduction over a length-3 axis.
    mx = np.maximum(np.maximum(r, g), b).astype(np.float64)
    mn = np.minimum(np.minimum(r, g), b).astype(np.float64)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0.0)
    out = np.zeros(gray.size, bool)
    out[idx[sat <= sat_max]] = True
    return out.reshape(gray.shape)


def specular_mask(ctx, luma_min: int, sat_max: float) -> np.ndarray:
    """:func:`specular` on the shared face crop, memoised (``highlights`` and
    ``glasses_glare`` use the same thresholds); do not modify the result."""
    fc = face_crop(ctx)
    return ctx.memo(("specular", luma_min, sat_max), lambda: specular(fc.rgb, fc.gray, luma_min, sat_max))


def eye_mask(fc) -> np.ndarray:
    """``(H, W)`` bool: the two eye polygons (landmarks 36–41, 42–47) of the crop, dilated 3 px."""
    import cv2  # noqa: PLC0415

    m = np.zeros(fc.gray.shape, np.uint8)
    for sl in (slice(36, 42), slice(42, 48)):
        cv2.fillPoly(m, [np.round(fc.landmarks[sl]).astype(np.int32)], 1)
    return cv2.dilate(m, np.ones((7, 7), np.uint8)) > 0


def measure(ctx, t: Thresholds) -> tuple[float, np.ndarray]:
    fc = face_crop(ctx)
    region = fc.face_mask & ~eye_mask(fc)
    spec = specular_mask(ctx, t.luma_min, t.sat_max) & region
    n = region.sum()
    return (float(spec.sum()) / n if n else 0.0), spec


def check(ctx, t: Thresholds):
    share, _ = measure(ctx, t)
    expected = f"≤ {100 * t.pass_max:g}%"
    st = grade_high(share, t.pass_max, t.warn_max)
    if st is PASS:
        return result(NAME, PASS, measured=r1(share, 4), expected=expected, unit="share")
    b = ctx.face.box.clipped(ctx.width, ctx.height)
    return result(NAME, st, measured=r1(share, 4), expected=expected, reason="shine", unit="share",
                  region=(b.left, b.top, b.right, b.bottom),
                  zh=f"面部有反光/高光（占 {100 * share:.1f}%，要求 ≤ {100 * t.pass_max:g}%）：请用柔光罩或调远灯光，必要时让学生擦去面部油光",
                  en=f"shine on the face ({100 * share:.1f}%, ≤ {100 * t.pass_max:g}% allowed): diffuse or move the lights back; blot the shine off the face")
