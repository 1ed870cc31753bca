"""Spec-photo builders for tests (reusable by capture and kiosk tests).

``make_spec_photo(portrait_path)`` turns a real portrait on a plain backdrop into a
480×640, 300 dpi, 30–40 KB baseline JPEG on the light-blue backdrop, composed at the
profile's auto-crop targets.  Every step is deterministic (same bytes every run).
Geometry and defect options break one rule at a time for the single-rule tests.

These are test-data generators, not the normaliser: they may composite onto a new
backdrop (the product never does).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

BLUE = (100, 197, 255)
CANVAS = (480, 640)


@dataclass(frozen=True)
class Cutout:
    """A portrait with a soft person matte.

    ``rgb`` ``(H, W, 3)`` uint8, ``alpha`` ``(H, W)`` float32 0–1, landmarks ``(68, 2)``
    ``(x, y)`` px, ``crown_y`` the first head row (px).
    """

    rgb: np.ndarray
    alpha: np.ndarray
    landmarks: np.ndarray
    crown_y: int


@lru_cache(maxsize=8)
def cutout(portrait_path: str) -> Cutout:
    """Cut the person out of a portrait on a plain backdrop (uses ``qc.segment``'s model)."""
    import cv2

    from qc.context import PhotoContext
    from qc.segment import _design, rgb_to_lab

    ctx = PhotoContext(Path(portrait_path).read_bytes())
    face = ctx.face
    if face is None:
        raise ValueError(f"{portrait_path}: needs exactly one face")
    seg = ctx.segmentation
    h, w = ctx.rgb.shape[:2]
    # Backdrop model evaluated at full resolution, ΔE*ab per pixel.
    sh, sw = seg.backdrop_de.shape
    lab = rgb_to_lab(ctx.rgb)
    ys, xs = np.mgrid[0:h, 0:w]
    xn = ((xs + 0.5) * seg.scale - 0.5) / max(1, sw - 1) - 0.5
    yn = ((ys + 0.5) * (sh / h) - 0.5) / max(1, sh - 1) - 0.5
    D = _design(xn.ravel().astype(np.float32), yn.ravel().astype(np.float32))
    model = seg.model_lab.reshape(-1, 3)
    # Refit the quadratic on the small model (exact: it is a quadratic) to evaluate it at full res.
    ys_s, xs_s = np.mgrid[0:sh, 0:sw]
    Ds = _design((xs_s / max(1, sw - 1) - 0.5).ravel(), (ys_s / max(1, sh - 1) - 0.5).ravel())
    coeffs = np.linalg.lstsq(Ds, model, rcond=None)[0]
    full_model = (D @ coeffs).reshape(h, w, 3)
    de = np.sqrt(((lab - full_model) ** 2).sum(axis=-1))
    alpha = np.clip((de - 3.0) / 6.0, 0.0, 1.0).astype(np.float32)
    person = seg.person.astype(np.uint8)
    k = max(3, int(round(w / 200)))
    near = cv2.dilate(person, np.ones((2 * k + 1, 2 * k + 1), np.uint8)) > 0
    core = cv2.erode(person, np.ones((2 * k + 1, 2 * k + 1), np.uint8)) > 0
    alpha[~near] = 0.0
    alpha[core] = 1.0
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.8, w / 900))
    return Cutout(rgb=ctx.rgb, alpha=alpha, landmarks=face.landmarks.copy(), crown_y=int(seg.crown_y or 0))


@dataclass(frozen=True)
class Layout:
    """Where the face lands on the 480×640 canvas (px) and how the head is rolled (degrees)."""

    face_width: float = 225.0
    eye_y: float | None = None        # None: put the crown at crown_y instead
    crown_y: float = 64.0
    centre_x: float = 240.0
    roll_deg: float = 0.0


def _transform(c: Cutout, lay: Layout) -> np.ndarray:
    """2×3 affine map from the cut-out to the canvas."""
    lm = c.landmarks
    el, er = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    mid = (el + er) / 2.0
    d = er - el
    roll_src = np.degrees(np.arctan2(d[1], d[0]))
    jaw = float(np.linalg.norm(lm[16] - lm[0]))
    s = lay.face_width / jaw
    a = np.radians(-roll_src + lay.roll_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * s
    if lay.eye_y is not None:
        eye_y = lay.eye_y
    else:
        eye_y = lay.crown_y + (mid[1] - c.crown_y) * s
    t = np.array([lay.centre_x, eye_y]) - rot @ mid
    return np.c_[rot, t]


def compose(portrait_path: str | Path, layout: Layout = Layout(), backdrop: Callable | tuple = BLUE,
            person_fn: Callable | None = None, canvas: tuple[int, int] = CANVAS) -> np.ndarray:
    """The spec composition as an ``(640, 480, 3)`` uint8 array (or ``canvas`` = (w, h)).

    ``backdrop``: an RGB tuple or ``fn(h, w) -> (h, w, 3)`` float array;
    ``person_fn(rgb_float, alpha, landmarks) -> rgb_float``: edit the person before
    compositing (defects that only touch the person).
    """
    import cv2

    c = cutout(str(portrait_path))
    m = _transform(c, layout)
    w, h = canvas
    src = c.rgb.astype(np.float32)
    lm_canvas = np.c_[c.landmarks, np.ones(68)] @ m.T
    person = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(c.alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if person_fn is not None:
        res = person_fn(person, alpha, lm_canvas)
        person, alpha = res if isinstance(res, tuple) else (res, alpha)
    if callable(backdrop):
        bg = backdrop(h, w).astype(np.float32)
    else:
        bg = np.empty((h, w, 3), np.float32)
        bg[:] = backdrop
    out = alpha[..., None] * person + (1 - alpha[..., None]) * bg
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def encode_jpeg(rgb: np.ndarray, *, quality: int | None = None, target_kb: tuple[float, float] = (30, 40),
                dpi: int | None = 300, progressive: bool = False, pad_to_kb: float | None = None) -> bytes:
    """Baseline (or progressive) JPEG bytes of ``rgb``.

    With ``quality=None`` searches the highest quality (60–95) whose size stays within
    ``target_kb``'s upper end, preferring one inside the band.  ``pad_to_kb`` appends a
    COM segment so the file reaches that size (to test one rule without moving the
    file size).
    """
    im = Image.fromarray(rgb)

    def enc(q: int) -> bytes:
        b = io.BytesIO()
        kw = {"quality": q, "optimize": False, "progressive": progressive, "subsampling": "4:2:0"}
        if dpi:
            kw["dpi"] = (dpi, dpi)
        im.save(b, "JPEG", **kw)
        return b.getvalue()

    if quality is None:
        lo_kb, hi_kb = target_kb
        best = enc(60)
        for q in range(95, 59, -1):
            data = enc(q)
            if len(data) / 1024 <= hi_kb:
                best = data
                break
        data = best
        if len(data) / 1024 < lo_kb and pad_to_kb is None:
            pad_to_kb = (lo_kb + hi_kb) / 2
    else:
        data = enc(quality)
    if pad_to_kb is not None and len(data) < pad_to_kb * 1024:
        data = pad_jpeg(data, int(pad_to_kb * 1024))
    return data


def pad_jpeg(data: bytes, size: int) -> bytes:
    """Insert COM (comment) segments after SOI so the file is ``size`` bytes."""
    need = size - len(data)
    segs = []
    while need > 4:
        n = min(need - 4, 65533)
        segs.append(b"\xff\xfe" + (n + 2).to_bytes(2, "big") + b"\x00" * n)
        need -= n + 4
    return data[:2] + b"".join(segs) + data[2:]


def make_spec_photo(portrait_path: str | Path, layout: Layout = Layout(), backdrop=BLUE,
                    person_fn: Callable | None = None, post_fn: Callable | None = None, **jpeg_kw) -> bytes:
    """A spec photo (480×640 JPEG bytes, 300 dpi, 30–40 KB) from a real portrait.

    ``post_fn(rgb) -> rgb`` edits the finished composition (blur, frame...).
    """
    rgb = compose(portrait_path, layout, backdrop, person_fn)
    if post_fn is not None:
        rgb = post_fn(rgb)
    return encode_jpeg(rgb, **jpeg_kw)


def camera_frame(portrait_path: str | Path, size: tuple[int, int] = (1280, 720), *, face_width: float = 250.0,
                 crown_y: float = 110.0, backdrop=BLUE, post_fn: Callable | None = None) -> np.ndarray:
    """A camera-like frame, ``(h, w, 3)`` uint8: a real portrait on the light-blue backdrop,
    centred, with room around the head, as a station webcam would see the student."""
    w, h = size
    rgb = compose(portrait_path, Layout(face_width=face_width, crown_y=crown_y, centre_x=w / 2.0), backdrop,
                  canvas=size)
    return post_fn(rgb) if post_fn is not None else rgb


def spec_crop(path: str | Path, face_width: float = 240.0, eye_y: float = 262.0) -> bytes:
    """A plain 480×640 crop of a real photo (no compositing): face width and eye line set,
    eyes levelled, edges replicated where the photo has no room.  Used for the golden table."""
    import cv2

    from qc.context import PhotoContext

    ctx = PhotoContext(Path(path).read_bytes())
    f = ctx.face
    if f is None:
        raise ValueError(f"{path}: needs exactly one face")
    c = Cutout(rgb=ctx.rgb, alpha=np.ones(ctx.rgb.shape[:2], np.float32), landmarks=f.landmarks, crown_y=0)
    m = _transform(c, Layout(face_width=face_width, eye_y=eye_y))
    w, h = CANVAS
    out = cv2.warpAffine(ctx.rgb, m, (w, h), flags=cv2.INTER_AREA if m[0, 0] < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return encode_jpeg(out)


# ---------------------------------------------------------------------------- defects
def blur(sigma: float):
    def fn(rgb):
        import cv2
        return cv2.GaussianBlur(rgb, (0, 0), sigma)
    return fn


def frame(px: int, colour=(0, 0, 0)):
    def fn(rgb):
        out = rgb.copy()
        out[:px] = colour
        out[-px:] = colour
        out[:, :px] = colour
        out[:, -px:] = colour
        return out
    return fn


def person_gain(gain: float):
    """Scale the person's brightness (exposure defects that leave the backdrop alone)."""
    def fn(p, alpha, lm):
        return p * gain
    return fn


def photo_gain(gain: float):
    """Scale every pixel value of the finished photo (camera exposure; ``post_fn``)."""
    def fn(rgb):
        return np.clip(rgb.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
    return fn


def person_cast(r: float, g: float, b: float):
    def fn(p, alpha, lm):
        return p * np.array([r, g, b], np.float32)
    return fn


def side_light(strength: float):
    """Darken the image-left side of the person by up to ``strength`` (0–1), ramped across the face."""
    def fn(p, alpha, lm):
        h, w = p.shape[:2]
        cx = lm[27:31, 0].mean()
        half = (lm[16, 0] - lm[0, 0]) / 2.0
        x = np.arange(w, dtype=np.float32)
        ramp = np.clip((cx + 0.3 * half - x) / (1.3 * half), 0, 1)
        return p * (1 - strength * ramp)[None, :, None]
    return fn


def shine(share_of_face: float = 0.04):
    """White specular spots on the forehead and cheeks covering about ``share_of_face`` of the face."""
    def fn(p, alpha, lm):
        import cv2
        out = p.copy()
        hull = cv2.convexHull(np.round(lm).astype(np.int32))
        area = cv2.contourArea(hull)
        ed = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0))
        centres = [lm[27] - [0.35 * ed, 0.65 * ed], lm[27] - [-0.35 * ed, 0.65 * ed], lm[30], lm[8] - [0, 0.3 * ed]]
        r = np.sqrt(share_of_face * area / (len(centres) * np.pi))
        mask = np.zeros(p.shape[:2], np.uint8)
        for c in centres:
            cv2.circle(mask, (int(c[0]), int(c[1])), max(1, int(r)), 1, -1)
        out[mask > 0] = 247.0
        return out
    return fn


def lens_glare():
    """Bright reflections over both eyes, as a lens reflects a lamp."""
    def fn(p, alpha, lm):
        import cv2
        out = p.copy()
        ed = np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0))
        mask = np.zeros(p.shape[:2], np.uint8)
        for sl in (slice(36, 42), slice(42, 48)):
            cx, cy = lm[sl].mean(axis=0)
            cv2.ellipse(mask, (int(cx + 0.08 * ed), int(cy - 0.02 * ed)), (int(0.16 * ed), int(0.07 * ed)),
                        -20, 0, 360, 1, -1)
        out[mask > 0] = 247.0
        return out
    return fn


def clothing_colour(rgb_target=BLUE, below_chin: float = 0.25):
    """Recolour everything of the person below the chin (+ ``below_chin`` face widths) to ``rgb_target``, keeping shading."""
    def fn(p, alpha, lm):
        out = p.copy()
        h, w = p.shape[:2]
        fw = lm[16, 0] - lm[0, 0]
        y0 = int(lm[8, 1] + below_chin * fw)
        lum = out[y0:].mean(axis=-1, keepdims=True) / max(1.0, float(out[y0:].mean()))
        out[y0:] = np.clip(np.array(rgb_target, np.float32) * (0.85 + 0.15 * lum), 0, 255)
        return out
    return fn


def side_blob(side: str = "left", gap: int = 12):
    """A large dark hair mass at ear level reaching to ``gap`` px of one side edge (side_margins)."""
    def fn(p, alpha, lm):
        import cv2
        out, a = p.copy(), alpha.copy()
        w = p.shape[1]
        y0 = int(lm[36:48, 1].mean())
        y1 = int(lm[36:48, 1].mean() + 0.6 * (lm[8, 1] - lm[36:48, 1].mean()))
        if side == "left":
            x0, x1 = gap, int(lm[0, 0]) + 5
        else:
            x0, x1 = int(lm[16, 0]) - 5, w - gap
        mask = np.zeros(p.shape[:2], np.uint8)
        cv2.ellipse(mask, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 1, -1)
        out[mask > 0] = (40.0, 30.0, 25.0)
        a[mask > 0] = 1.0
        return out, a
    return fn


def vertical_gradient(top=(130, 215, 255), bottom=(60, 160, 230)):
    def fn(h, w):
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        return (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32) + np.zeros((1, w, 1), np.float32)
    return fn


def wink(open_path: str | Path, closed_path: str | Path, eye: str) -> np.ndarray:
    """A one-eye-shut face from two real shots of the same sitter: the eye region of the
    closed-eye shot (aligned on the nose and eye corners) blended into the open-eye shot.

    ``eye`` is the shut eye from the subject's side, ``"left"`` or ``"right"`` (the
    subject's left eye is on the image's right).  Returns ``(H, W, 3)`` uint8 RGB of the
    open-eye shot's size.
    """
    import cv2

    from qc.context import PhotoContext

    o, c = PhotoContext(Path(open_path).read_bytes()), PhotoContext(Path(closed_path).read_bytes())
    if o.face is None or c.face is None:
        raise ValueError("both shots need exactly one face")
    lo, lc = o.face.landmarks, c.face.landmarks
    idx = list(range(27, 36)) + [36, 39, 42, 45]
    m, _ = cv2.estimateAffinePartial2D(lc[idx].astype(np.float32), lo[idx].astype(np.float32))
    warped = cv2.warpAffine(c.rgb, m, (o.width, o.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    pts = lo[42:48] if eye == "left" else lo[36:42]
    cx, cy = pts.mean(axis=0)
    w = float(np.ptp(pts[:, 0]))
    mask = np.zeros(o.rgb.shape[:2], np.float32)
    cv2.ellipse(mask, (int(round(cx)), int(round(cy))), (int(round(0.95 * w)), int(round(0.6 * w))), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 0.15 * w)[..., None]
    return np.clip(o.rgb * (1.0 - mask) + warped * mask + 0.5, 0, 255).astype(np.uint8)
