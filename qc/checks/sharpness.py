"""``sharpness``: the face is in focus.

Rule (spec §4, upstream label 照片清晰度).  Measured: variance of the Laplacian (3×3
aperture, on 8-bit luma) over the face — the convex hull of the landmarks, eroded by
4 px — of the shared crop normalised to an eye distance of 100 px, so the number does
not depend on how large the face is in the photo; and rescaled by
``(reference_luma / mean face luma)²`` so it does not depend on exposure either (the
Laplacian scales with contrast: a face at 40 % brightness would otherwise read 6×
softer — ``exposure`` judges the brightness).  A face that had to be enlarged to
reach 100 px (eye distance < 100 px in the photo) is softer by that enlargement, which
is what the rule is about.

Profile keys: ``pass_min``, ``warn_min`` (Laplacian variance, grey levels², at the
reference brightness), ``reference_luma`` (0–255).
Known limits: the variance also grows with noise: a grainy, under-lit face can read
sharper than it is (``exposure`` catches the lighting).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import PASS, check_order, face_crop, grade_low, r1, result

NAME = "sharpness"
LABEL_ZH = "照片清晰度"
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Laplacian variance (grey levels²) on the normalised crop: pass and warn minimums."""

    pass_min: float
    warn_min: float
    reference_luma: float

    def __post_init__(self):
        check_order("warn_min", self.warn_min, "pass_min", self.pass_min)


def laplacian_variance(ctx, reference_luma: float = 150.0) -> float:
    """The sharpness measure of ``ctx.face`` (memoised per ``reference_luma``)."""
    def make():
        import cv2  # noqa: PLC0415

        fc = face_crop(ctx)
        # Integer-valued (3×3 kernel on 8-bit luma): exact in float32, variance in float64.
        lap = cv2.Laplacian(fc.gray, cv2.CV_32F, ksize=3)
        m = cv2.erode(fc.face_mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        if m.sum() < 100:
            m = fc.face_mask
        mean = max(10.0, float(fc.gray[m].mean()))
        return float(lap[m].astype(np.float64).var()) * (reference_luma / mean) ** 2

    return ctx.memo(("laplacian_variance", reference_luma), make)


def check(ctx, t: Thresholds):
    v = laplacian_variance(ctx, t.reference_luma)
    expected = f"≥ {t.pass_min:g}"
    st = grade_low(v, t.pass_min, t.warn_min)
    if st is PASS:
        return result(NAME, PASS, measured=r1(v), expected=expected, label=LABEL_ZH)
    b = ctx.face.box.clipped(ctx.width, ctx.height)
    return result(NAME, st, measured=r1(v), expected=expected, reason="blurred", label=LABEL_ZH,
                  region=(b.left, b.top, b.right, b.bottom),
                  zh=f"面部不够清晰（清晰度 {v:.0f}，要求 ≥ {t.pass_min:g}）：请重新对焦到眼睛、让学生保持不动，光线不足时补光；不要放大小照片",
                  en=f"face not sharp (score {v:.0f}, at least {t.pass_min:g} required): refocus on the eyes, keep the student still, add light; do not enlarge a small photo")
