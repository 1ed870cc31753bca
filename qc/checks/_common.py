"""Helpers shared by the check modules: result builders, grading, shared face crops.

Nothing here holds a threshold: every number a check compares against comes from its
``Thresholds`` dataclass, filled from the profile.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..segment import masked, median_rows, quantile  # noqa: F401 - array helpers shared with the checks
from ..types import CheckResult, Status

PASS, WARN, FAIL, NA = Status.PASS, Status.WARN, Status.FAIL, Status.NOT_ASSESSED

#: Status names a profile may use where a check lets the profile pick a severity.
STATUS_NAMES = {"pass": PASS, "warn": WARN, "fail": FAIL}


def status_from_name(name: str) -> Status:
    return STATUS_NAMES[name]


def check_status_name(value: str, key: str) -> None:
    """Raise ``ValueError`` naming ``key`` unless ``value`` is pass/warn/fail."""
    if value not in STATUS_NAMES:
        raise ValueError(f"{key} must be one of pass, warn, fail (got {value!r})")


def check_order(key_lo: str, lo: float, key_hi: str, hi: float) -> None:
    if lo > hi:
        raise ValueError(f"{key_lo} ({lo}) must not exceed {key_hi} ({hi})")


def result(name: str, status: Status, *, measured: Any = None, expected: str = "", reason: str = "ok",
           zh: str = "", en: str = "", label: str | None = None, unit: str | None = None,
           region: tuple[int, int, int, int] | None = None) -> CheckResult:
    """Build a :class:`CheckResult` with code ``<name>.<reason>``."""
    if region is not None:
        region = tuple(int(round(v)) for v in region)
    return CheckResult(check=name, status=status, measured=measured, expected=expected,
                       code=f"{name}.{reason}", message_zh=zh, message_en=en, label_zh=label,
                       unit=unit, region=region)


def not_assessed(name: str, reason: str, zh: str, en: str, *, label: str | None = None,
                 expected: str = "", unit: str | None = None) -> CheckResult:
    return result(name, NA, reason=reason, zh=zh, en=en, label=label, expected=expected, unit=unit)


def grade_low(value: float, pass_min: float, warn_min: float) -> Status:
    """Higher is better: pass ≥ pass_min, warn ≥ warn_min, else fail."""
    if value >= pass_min:
        return PASS
    if value >= warn_min:
        return WARN
    return FAIL


def grade_high(value: float, pass_max: float, warn_max: float) -> Status:
    """Lower is better: pass ≤ pass_max, warn ≤ warn_max, else fail."""
    if value <= pass_max:
        return PASS
    if value <= warn_max:
        return WARN
    return FAIL


def grade_band(value: float, pass_min: float, pass_max: float, warn_min: float, warn_max: float) -> Status:
    """Inside [pass_min, pass_max] pass, inside [warn_min, warn_max] warn, else fail."""
    if pass_min <= value <= pass_max:
        return PASS
    if warn_min <= value <= warn_max:
        return WARN
    return FAIL


def r1(v: float, nd: int = 1) -> float:
    """Round a measure for reports (keeps JSON tidy; the golden table uses these)."""
    return float(round(float(v), nd))


def num(v: float, nd: int = 0) -> str:
    """Format a number for a message: ``12``, ``3.5``."""
    if nd == 0:
        return str(int(round(v)))
    return f"{v:.{nd}f}"


# ---------------------------------------------------------------------------- face crop
@dataclass(frozen=True)
class FaceCrop:
    """The face rotated level and scaled to an eye distance of ``eye_distance`` px.

    Attributes
    ----------
    rgb : numpy.ndarray
        ``(H, W, 3)`` uint8 crop.
    gray : numpy.ndarray
        ``(H, W)`` uint8 luma (ITU-R BT.601, as OpenCV).
    landmarks : numpy.ndarray
        ``(68, 2)`` landmark ``(x, y)`` in crop pixels.
    matrix : numpy.ndarray
        ``(2, 3)`` affine map from image to crop pixels.
    face_mask : numpy.ndarray
        ``(H, W)`` bool, convex hull of the 68 landmarks.
    valid : numpy.ndarray
        ``(H, W)`` bool, crop pixels that came from inside the image.
    scale : float
        Crop pixels per image pixel.
    """

    rgb: np.ndarray
    gray: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray
    face_mask: np.ndarray
    valid: np.ndarray
    scale: float


#: Geometry of the normalised crop: eye distance, size, where the eye midpoint lands.
CROP_EYE_DISTANCE = 100.0
CROP_SIZE = (240, 260)          # (width, height)
CROP_EYE_MID = (120.0, 90.0)


def face_crop(ctx) -> FaceCrop:
    """The shared normalised face crop of ``ctx.face`` (memoised on the context).

    Fixed geometry (not a threshold): eye distance 100 px, crop 240×260 px with the eye
    midpoint at (120, 90), eye line level.
    """
    return ctx.memo("face_crop", lambda: _make_face_crop(ctx))


def _make_face_crop(ctx) -> FaceCrop:
    import cv2  # noqa: PLC0415

    f = ctx.face
    if f is None:
        raise ValueError("no single face")
    ed = max(1e-3, f.eye_distance)
    s = CROP_EYE_DISTANCE / ed
    ang = np.radians(f.roll_deg)
    c, si = np.cos(-ang) * s, np.sin(-ang) * s
    mx, my = f.eye_mid
    # x' = s·R(-roll)·(p - mid) + target
    m = np.array([[c, -si, 0.0], [si, c, 0.0]])
    m[:, 2] = np.array(CROP_EYE_MID) - m[:, :2] @ np.array([mx, my])
    w, h = CROP_SIZE
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    crop = cv2.warpAffine(ctx.rgb, m, (w, h), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    valid = _valid_area(m, ctx.rgb.shape[:2], (w, h))
    lm = f.landmarks @ m[:, :2].T + m[:, 2]   # (np.c_ with a ones column cost 0.3 ms)
    hull = cv2.convexHull(np.round(lm).astype(np.int32))
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return FaceCrop(rgb=crop, gray=gray, landmarks=lm, matrix=m, face_mask=mask.astype(bool) & valid,
                    valid=valid, scale=float(s))


def _valid_area(m: np.ndarray, image_hw: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Crop pixels ``(h, w)`` bool whose source (through the affine ``m``) is inside the image.

    When the whole crop maps inside the image with a pixel to spare (a spec photo's
    face nearly always), every pixel is; otherwise the image's ones are warped with
    nearest-neighbour sampling (the same mask, at a fraction of the cost when all true).
    """
    import cv2  # noqa: PLC0415

    ih, iw = image_hw
    w, h = size
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64)
    src = corners @ inv[:, :2].T + inv[:, 2]
    if src[:, 0].min() >= 1 and src[:, 1].min() >= 1 and src[:, 0].max() <= iw - 2 and src[:, 1].max() <= ih - 2:
        return np.ones((h, w), bool)
    ones = np.full((ih, iw), 255, np.uint8)
    return cv2.warpAffine(ones, m, (w, h), flags=cv2.INTER_NEAREST, borderValue=0) > 0


def crop_lab(ctx) -> np.ndarray:
    """CIELAB of the face crop, ``(H, W, 3)`` float32 (memoised)."""
    from ..segment import rgb_to_lab  # noqa: PLC0415

    return ctx.memo("face_crop_lab", lambda: rgb_to_lab(face_crop(ctx).rgb))


def cheek_masks(ctx) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks ``(H, W)`` of the two cheek patches in the face crop (image-left, image-right).

    Each patch is a disc of radius 14 px (0.14 eye distances) centred halfway between
    the jaw landmark 2 (resp. 14) and the nose-base landmark 31 (resp. 35).
    """
    def make():
        fc = face_crop(ctx)
        lm = fc.landmarks
        h, w = fc.gray.shape
        # Broadcast a row and a column instead of two full (H, W) coordinate grids.
        yy, xx = np.arange(h, dtype=np.float64)[:, None], np.arange(w, dtype=np.float64)[None, :]
        out = []
        for a, b in ((2, 31), (14, 35)):
            cx, cy = (lm[a] + lm[b]) / 2.0
            out.append((((xx - cx) ** 2 + (yy - cy) ** 2) <= 14.0 ** 2) & fc.valid)
        return out[0], out[1]

    return ctx.memo("cheek_masks", make)


def face_box_region(ctx) -> tuple[int, int, int, int] | None:
    f = ctx.face
    if f is None:
        return None
    b = f.box.clipped(ctx.width, ctx.height)
    return (b.left, b.top, b.right, b.bottom)
