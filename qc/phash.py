"""Perceptual hashes of photos: find the same photograph re-encoded, rescaled or mirrored.

A 64-bit DCT hash (pHash family) of the **face region aligned by its landmarks**: the
crop is centred on the 68 landmarks, levelled by the face's left–right axis and sized by
the landmarks' spread, so the hash does not change when the same shot is re-encoded, rescaled,
cropped differently or framed anew by the normaliser (every spec photo is such a
re-framing).  The crop is resampled to 32×32 grey, transformed with a 2-D DCT-II
(``cv2.dct``), and each of the 64 lowest-frequency coefficients except DC (DC is
replaced by the next horizontal one, ``(0, 8)``) gives one bit: 1 when it is positive.

Why signs and not the classic "above the median": for a DCT-II, mirroring the image
left–right multiplies every coefficient of odd horizontal frequency by −1 and leaves
the others, so the hash of a mirrored photo is exactly ``h ^ MIRROR_MASK``.  A mirrored
copy is therefore found from the stored hash alone (:func:`hamming` takes the smaller
of the two distances).

Bits: bit ``8·v + u`` is coefficient ``(v, u)`` (``v`` vertical, ``u`` horizontal
frequency), bit 0 is coefficient ``(0, 8)``.  Stored signed (``int64``) so it fits a SQL
BIGINT; :func:`to_unsigned` gives the ``uint64`` view.

Thresholds are not here: the Hamming limit is calibrated by
``tools/calibration/phash.py`` (table in ``tools/calibration/out/phash_table.csv``).
Known limits: a photo with no single face has no hash (exact SHA-256 duplicates are
still found); heavy retouching or a changed background around the head moves bits.
"""
from __future__ import annotations

import numpy as np

from .faces import Face

__all__ = ["face_phash", "image_phash", "dct_hash", "hamming", "hamming_many", "to_signed", "to_unsigned",
           "MIRROR_MASK", "CROP_SIDE", "CROP_RAISE", "face_frame", "face_crop"]

#: Side of the square face crop, in landmark radii (RMS distance of the eye and nose
#: landmarks from their centroid, about 0.5 eye distances): about 3 eye distances, from the
#: forehead to below the chin (calibrated, ``tools/calibration/phash.py``).
CROP_SIDE = 5.6
#: How far the crop centre sits above the eye-and-nose centroid, in landmark radii.
CROP_RAISE = 0.0
_FRAME = np.r_[27:48]               # nose (27–35) and eyes (36–47): rigid, precisely placed points
_LEFT = np.r_[0:8, 17:22, 36:42]    # image-left half of the face (jaw, brow, eye)
_RIGHT = np.r_[9:17, 22:27, 42:48]  # image-right half
_WORK = 64  # working crop size (px) before the 32×32 reduction

_U = np.tile(np.arange(8), 8).reshape(8, 8)  # horizontal frequency of each bit position
_U[0, 0] = 8                                 # bit 0 is coefficient (0, 8): even
#: Bits whose coefficient changes sign when the photo is mirrored left–right.
MIRROR_MASK = int(sum(1 << i for i, u in enumerate(_U.ravel()) if u % 2 == 1))


def to_signed(h: int) -> int:
    """``uint64`` value → the ``int64`` with the same bits (for SQL BIGINT)."""
    h &= (1 << 64) - 1
    return h - (1 << 64) if h >= 1 << 63 else h


def to_unsigned(h: int) -> int:
    """``int64`` (as stored) → ``uint64`` value with the same bits."""
    return h & ((1 << 64) - 1)


def dct_hash(grey32: np.ndarray) -> int:
    """Hash of a ``(32, 32)`` grey image (any numeric dtype).  Returns the signed 64-bit value."""
    import cv2  # noqa: PLC0415

    a = np.asarray(grey32, dtype=np.float32)
    if a.shape != (32, 32):
        raise ValueError(f"expected a 32×32 grey image, got {a.shape}")
    d = cv2.dct(a)
    coeffs = d[:8, :8].copy()
    coeffs[0, 0] = d[0, 8]
    bits = (coeffs.ravel() > 0).astype(np.uint64)
    value = int((bits << np.arange(64, dtype=np.uint64)).sum(dtype=np.uint64))
    return to_signed(value)


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2  # noqa: PLC0415

    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)


def image_phash(rgb: np.ndarray) -> int:
    """Hash of the whole image (``(H, W, 3)`` RGB or ``(H, W)`` grey uint8).  Used for calibration
    comparisons; the product hashes the aligned face (:func:`face_phash`)."""
    import cv2  # noqa: PLC0415

    g = _grey(rgb)
    return dct_hash(cv2.resize(g, (32, 32), interpolation=cv2.INTER_AREA))


def face_frame(face: Face) -> tuple[np.ndarray, float, np.ndarray]:
    """``(centre, radius, axis)`` of a face from its landmarks: the centroid of the 21 eye
    and nose points, their RMS distance from it (px; about 0.5 eye distances), and the
    unit vector from the image-left half of the face (jaw 0–7, brow 17–21, eye 36–41) to
    the image-right half.  Averaging many points keeps the frame steady when single
    landmarks jitter (glasses moved the eye points of one corpus photo by 13 px between two
    JPEG encodings); jaw and mouth points, which move with expression and are placed
    less precisely, do not set the centre or the size."""
    lm = np.asarray(face.landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError("a face hash needs the 68 landmarks")
    pts = lm[_FRAME]
    c = pts.mean(axis=0)
    r = float(np.sqrt(((pts - c) ** 2).sum(axis=1).mean()))
    d = lm[_RIGHT].mean(axis=0) - lm[_LEFT].mean(axis=0)
    n = float(np.hypot(d[0], d[1]))
    if not np.isfinite(r) or r < 2.0 or n < 1.0:
        raise ValueError("face too small for a face hash")
    return c, r, d / n


def face_crop(rgb: np.ndarray, face: Face, size: int = 32) -> np.ndarray:
    """The aligned face crop as a ``(size, size)`` float32 grey image.

    Square of side ``CROP_SIDE`` landmark radii (see :func:`face_frame`), centred
    ``CROP_RAISE`` radii above the eye-and-nose centroid, rotated so the face's left–right
    axis is level; outside the photo the edge pixels are repeated.
    """
    import cv2  # noqa: PLC0415

    g = _grey(rgb)
    c, r, axis = face_frame(face)
    side = CROP_SIDE * r
    # Reduce big photos first so the warp samples without aliasing (crop ≈ 2× the work size).
    pre = min(1.0, 2.0 * _WORK / side)
    if pre < 1.0:
        g = cv2.resize(g, (max(1, round(g.shape[1] * pre)), max(1, round(g.shape[0] * pre))),
                       interpolation=cv2.INTER_AREA)
        c, side = c * pre, side * pre
    cos, sin = axis
    centre = c - CROP_RAISE * (side / CROP_SIDE) * np.array([-sin, cos])
    k = _WORK / side
    # Source → crop: rotate by −roll about the centre, scale, move the centre to the middle.
    rot = np.array([[cos, sin], [-sin, cos]]) * k
    t = np.array([(_WORK - 1) / 2.0, (_WORK - 1) / 2.0]) - rot @ centre
    m = np.c_[rot, t].astype(np.float64)
    crop = cv2.warpAffine(g, m, (_WORK, _WORK), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def face_phash(rgb: np.ndarray, face: Face) -> int:
    """Hash of the eye-aligned face region of ``face`` in ``rgb`` (signed 64-bit int)."""
    return dct_hash(face_crop(rgb, face))


def hamming(a: int, b: int, *, mirror: bool = True) -> int:
    """Bits that differ between two hashes; with ``mirror`` also against ``b`` mirrored
    (the smaller distance)."""
    x = to_unsigned(a) ^ to_unsigned(b)
    d = x.bit_count()
    if mirror:
        d = min(d, (x ^ MIRROR_MASK).bit_count())
    return d


def hamming_many(hashes: np.ndarray, q: int, *, mirror: bool = True) -> np.ndarray:
    """Hamming distances (``uint8``) from ``q`` to each of ``hashes`` (``(N,)`` int64 or uint64)."""
    h = np.asarray(hashes).view(np.uint64) if np.asarray(hashes).dtype == np.int64 else \
        np.asarray(hashes, dtype=np.uint64)
    x = h ^ np.uint64(to_unsigned(q))
    d = np.bitwise_count(x)
    if mirror:
        d = np.minimum(d, np.bitwise_count(x ^ np.uint64(MIRROR_MASK)))
    return d
