"""The one module that talks to face_recognition / dlib.

Everything else in the project sees plain types: :class:`Box` (pixel edges, not dlib's
``(top, right, bottom, left)`` tuples), :class:`Face` (box, detector score and the 68
landmarks as an ``(68, 2)`` float array of ``(x, y)`` pixels) and 128-d float32 encodings.

Models load lazily, once per process (``import face_recognition`` costs ~1.3 s and
~140 MiB, so nothing imports it at module import time).

Measured on these machines (see ``../shared/design/environment.md``): HOG detection on a
480×640 image without upsampling ~22 ms; 68 landmarks on a known box ~1 ms; one encoding
~75 ms.  dlib's HOG window is 80 px: faces smaller than that in the working image need
``upsample=1`` (4× the cost).
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import numpy as np

__all__ = ["Box", "Face", "detect", "landmarks_for", "encode", "distances", "models"]

_lock = threading.Lock()

# 68-point layout (iBUG 300-W), 0-based.
JAW = slice(0, 17)
RIGHT_BROW = slice(17, 22)      # subject's right = image left
LEFT_BROW = slice(22, 27)
NOSE_BRIDGE = slice(27, 31)
NOSE_TIP = slice(31, 36)
EYE_IMG_LEFT = slice(36, 42)    # subject's right eye, on the image's left
EYE_IMG_RIGHT = slice(42, 48)   # subject's left eye, on the image's right
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixels: ``left <= x < right``, ``top <= y < bottom``."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def scaled(self, factor: float) -> "Box":
        return Box(round(self.left * factor), round(self.top * factor),
                   round(self.right * factor), round(self.bottom * factor))

    def clipped(self, width: int, height: int) -> "Box":
        return Box(max(0, self.left), max(0, self.top), min(width, self.right), min(height, self.bottom))

    def as_css(self) -> tuple[int, int, int, int]:
        """face_recognition's ``(top, right, bottom, left)`` order."""
        return (self.top, self.right, self.bottom, self.left)


@dataclass(frozen=True, eq=False)
class Face:
    """A detected face.

    Attributes
    ----------
    box : Box
        Detector box in the coordinates of the image passed to :func:`detect`.
    score : float
        HOG detector confidence (dlib's SVM margin; > 0 is a detection at the
        default threshold; real frontal faces typically score 1–3).
    landmarks : numpy.ndarray
        Shape ``(68, 2)``, float64, ``(x, y)`` pixels.
    """

    box: Box
    score: float
    landmarks: np.ndarray

    # The eye geometry is read a dozen times per photo by the checks: computed once per
    # face (cached in the instance dict, which a frozen dataclass allows for
    # cached_property), returned read-only so no caller can alter the shared value.
    @functools.cached_property
    def eye_left(self) -> np.ndarray:
        """Centre of the eye on the image's left (subject's right eye), ``(x, y)``."""
        return _frozen(self.landmarks[EYE_IMG_LEFT].mean(axis=0))

    @functools.cached_property
    def eye_right(self) -> np.ndarray:
        """Centre of the eye on the image's right (subject's left eye), ``(x, y)``."""
        return _frozen(self.landmarks[EYE_IMG_RIGHT].mean(axis=0))

    @functools.cached_property
    def eye_mid(self) -> np.ndarray:
        return _frozen((self.eye_left + self.eye_right) / 2.0)

    @functools.cached_property
    def eye_distance(self) -> float:
        """Distance between the two eye centres in pixels."""
        return float(np.linalg.norm(self.eye_right - self.eye_left))

    @functools.cached_property
    def roll_deg(self) -> float:
        """Angle of the eye line in degrees; positive when the image-right eye is lower."""
        d = self.eye_right - self.eye_left
        return float(np.degrees(np.arctan2(d[1], d[0])))

    @property
    def jaw_width(self) -> float:
        """Cheek-to-cheek width: distance between jaw landmarks 0 and 16 (pixels)."""
        return float(np.linalg.norm(self.landmarks[16] - self.landmarks[0]))

    @property
    def chin(self) -> np.ndarray:
        return self.landmarks[8]

    def transformed(self, matrix: np.ndarray) -> "Face":
        """The same face after a 2×3 affine ``matrix`` (landmarks and box)."""
        pts = np.c_[self.landmarks, np.ones(len(self.landmarks))] @ matrix.T
        corners = np.array([[self.box.left, self.box.top, 1.0], [self.box.right, self.box.top, 1.0],
                            [self.box.left, self.box.bottom, 1.0], [self.box.right, self.box.bottom, 1.0]])
        c = corners @ matrix.T
        box = Box(int(np.floor(c[:, 0].min())), int(np.floor(c[:, 1].min())),
                  int(np.ceil(c[:, 0].max())), int(np.ceil(c[:, 1].max())))
        return Face(box=box, score=self.score, landmarks=pts)


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.cache
def models():
    """Load face_recognition's dlib models once per process.

    Returns ``(detector, shape_predictor_68, encoder)``.  ``face_recognition.api`` sets
    Pillow's process-wide ``ImageFile.LOAD_TRUNCATED_IMAGES`` on import (half-written
    JPEGs would then decode with grey fill); the previous value is restored.
    """
    from PIL import ImageFile  # noqa: PLC0415

    with _lock:
        before = ImageFile.LOAD_TRUNCATED_IMAGES
        try:
            import face_recognition.api as fr  # noqa: PLC0415 - deliberate lazy import
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = before
        return fr.face_detector, fr.pose_predictor_68_point, fr.face_encoder


def _as_uint8_rgb(img: np.ndarray) -> np.ndarray:
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(f"expected an 8-bit grey or RGB image, got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)


def _to_rect(box: Box):
    import dlib  # noqa: PLC0415

    return dlib.rectangle(int(box.left), int(box.top), int(box.right), int(box.bottom))


def landmarks_for(img: np.ndarray, box: Box, predictor=None) -> np.ndarray:
    """68 landmarks, shape ``(68, 2)`` float64 ``(x, y)``, for a face ``box`` in ``img``
    (``predictor``: another ``dlib.shape_predictor`` than the full model, optional).

    The full model runs in :mod:`qc.shapefit` when it is built (dlib's points, bit for
    bit), else in dlib."""
    img = _as_uint8_rgb(img)
    if predictor is None:
        from . import shapefit  # noqa: PLC0415

        if shapefit.available() and (img.ndim == 2 or img.shape[2] == 3):
            # dlib's model, evaluated by our C loop: the same points, about half the time.
            return shapefit.fit(img, (int(box.left), int(box.top), int(box.right), int(box.bottom)))
        _, predictor, _ = models()
    shape = predictor(img, _to_rect(box))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


# dlib's frontal detector scans an image pyramid made by ``pyramid_down(6)``: each level
# is 5/6 of the one before, and a point p of a level sits at 1.2·p + 0.3 in the level
# above.  A window found at level l (a fixed-size rectangle R in that level's pixels) is
# reported as rect_up(R, l), rounded once.  The window's extent in level pixels is the
# detector's 80 px window less one 8 px HOG cell.
_PYR_DOWN = 6
_HOG_CELL = 8


@functools.cache
def _pyramid():
    import dlib  # noqa: PLC0415

    return dlib.pyramid_down(_PYR_DOWN)


def _lift(rect, levels: int, extent: int):
    """The rectangle dlib reports for a window on the full image, from the rectangle it
    reported on an image ``levels`` pyramid steps smaller; ``None`` when no window of
    ``extent`` reproduces ``rect`` exactly (the caller then scans the full image)."""
    import dlib  # noqa: PLC0415

    pyr = _pyramid()
    up = _PYR_DOWN / (_PYR_DOWN - 1.0)
    fix = 1.5                               # fixed point of p -> 1.2 p + 0.3 is -1.5
    want = (rect.left(), rect.top(), rect.right(), rect.bottom())
    level = round(np.log(max(1, rect.right() - rect.left()) / extent) / np.log(up))
    if level < 0:
        return None
    s = up ** level
    x0 = round((rect.left() + fix) / s - fix)
    y0 = round((rect.top() + fix) / s - fix)
    for dx in (0, -1, 1):
        for dy in (0, -1, 1):
            r = dlib.rectangle(x0 + dx, y0 + dy, x0 + dx + extent, y0 + dy + extent)
            back = pyr.rect_up(r, level)
            if (back.left(), back.top(), back.right(), back.bottom()) == want:
                return pyr.rect_up(r, level + levels)
    return None


def _run_skipping(detector, work: np.ndarray, skip_levels: int, min_score: float):
    """``detector.run(work, 0, min_score)`` without the ``skip_levels`` finest pyramid
    levels: the same detections, scores and rectangles as the full scan for every face
    found at a coarser level (the coarser levels are built from the same downsampled
    image, so their HOG features are identical), and none of the faces only the skipped
    levels find (under ~80·1.2^k px).  ``None`` when a rectangle cannot be mapped back
    exactly."""
    small = work
    for _ in range(skip_levels):
        small = _pyramid()(small)
    if min(small.shape[:2]) < detector.detection_window_width:
        return None
    rects, scores, _ = detector.run(small, 0, min_score)
    extent = detector.detection_window_width - _HOG_CELL
    lifted = [_lift(r, skip_levels, extent) for r in rects]
    if any(r is None for r in lifted):
        return None
    return lifted, scores


def detect(img: np.ndarray, *, max_side: int | None = None, upsample: int = 0,
           min_score: float = 0.0, with_landmarks: bool = True, skip_levels: int = 0) -> list[Face]:
    """Detect frontal faces with dlib's HOG detector.

    Parameters
    ----------
    img : numpy.ndarray
        ``(H, W, 3)`` RGB or ``(H, W)`` grey, uint8.
    max_side : int, optional
        Detect on a copy downscaled so its longer side is at most this many pixels
        (boxes are mapped back; landmarks are computed on the full-resolution image).
    upsample : int
        dlib's ``upsample_num_times`` on the working image (each level ~4× the cost).
    min_score : float
        Detector threshold offset (dlib ``adjust_threshold``); negative finds fainter faces.
    with_landmarks : bool
        Compute the 68 landmarks on the full image for every face.
    skip_levels : int
        With ``upsample=0``: do not scan the ``skip_levels`` finest levels of dlib's
        image pyramid (each skipped level saves about a quarter of what remains; faces
        smaller than ~80·1.2^skip_levels px in the working copy are not found).  Every
        face that is found gets exactly the box and score the full scan gives it.

    Returns
    -------
    list[Face]
        Sorted by box area, largest first.  Landmarks are an empty ``(0, 2)`` array
        when ``with_landmarks`` is false.
    """
    import cv2  # noqa: PLC0415

    img = _as_uint8_rgb(img)
    h, w = img.shape[:2]
    scale = 1.0
    work = img
    if max_side and max(h, w) > max_side:
        scale = max_side / float(max(h, w))
        work = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))),
                          interpolation=cv2.INTER_AREA)
    detector, _, _ = models()
    got = _run_skipping(detector, work, skip_levels, min_score) if skip_levels > 0 and upsample == 0 else None
    if got is None:
        rects, scores, _ = detector.run(work, upsample, min_score)
    else:
        rects, scores = got
    faces: list[Face] = []
    inv = 1.0 / scale
    for r, s in zip(rects, scores):
        box = Box(r.left(), r.top(), r.right(), r.bottom()).scaled(inv) if scale != 1.0 else \
            Box(r.left(), r.top(), r.right(), r.bottom())
        lm = landmarks_for(img, box) if with_landmarks else np.zeros((0, 2))
        faces.append(Face(box=box, score=float(s), landmarks=lm))
    faces.sort(key=lambda f: f.box.area, reverse=True)
    return faces


def encode(img: np.ndarray, face: Face, *, jitters: int = 1) -> np.ndarray:
    """128-d face encoding (float32) of ``face`` in ``img`` (~75 ms on one core)."""
    import dlib  # noqa: PLC0415

    _, _, encoder = models()
    img = _as_uint8_rgb(img)
    if img.ndim == 2:
        img = np.dstack([img] * 3)
    # Build the shape from our landmarks so landmarks are not predicted twice.
    parts = [dlib.point(int(round(x)), int(round(y))) for x, y in face.landmarks]
    shape = dlib.full_object_detection(_to_rect(face.box), parts)
    vec = encoder.compute_face_descriptor(img, shape, jitters)
    return np.asarray(vec, dtype=np.float32)


def distances(known: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Euclidean distances between ``query`` (128,) and each row of ``known`` (N, 128).

    Uses ``‖x‖² − 2Xq + ‖q‖²`` in float32 (1.5 ms for 100 000 rows here, vs 36 ms for
    ``face_recognition.face_distance``).
    """
    known = np.asarray(known, dtype=np.float32)
    q = np.asarray(query, dtype=np.float32)
    if known.ndim == 1:
        known = known[None, :]
    if len(known) == 0:
        return np.zeros(0, dtype=np.float32)
    d2 = np.einsum("ij,ij->i", known, known) - 2.0 * (known @ q) + float(q @ q)
    return np.sqrt(np.maximum(d2, 0.0))
