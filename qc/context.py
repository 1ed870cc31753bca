"""``PhotoContext``: decode a photo once, compute face, landmarks, masks lazily, once.

Checks (``qc.checks.*``) and the capture normaliser only *read* a context.  Every
expensive piece is a ``functools.cached_property`` so it is computed on first use and
shared: decoding (Pillow, EXIF orientation applied), the face detections with their
68 landmarks, the person/background mask and the 128-d face encoding.

Coordinates are pixels of the decoded, orientation-corrected image: ``rgb`` has shape
``(H, W, 3)`` uint8, so a 480×640 photo is an array of shape ``(640, 480, 3)``.
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import faces as _faces

#: Refuse images above this many pixels before decoding them (decompression bombs).
#: 12 MP camera originals are 12e6; 50 MP leaves room for DSLRs.
MAX_PIXELS = 50_000_000

#: ISO-BMFF brands of HEIF/HEIC files (phones' default photo format).
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")


def is_heif(data: bytes) -> bool:
    """True for HEIF/HEIC bytes (``ftyp`` box with a HEIF brand)."""
    return len(data) >= 12 and data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS


_heif_state: dict[str, bool] = {}


def heif_available() -> bool:
    """Register the HEIF opener (``pillow-heif``) on first need; False when not installed.

    Registered lazily, when a HEIF file is first seen: importing it costs nothing then
    for the JPEGs that make up nearly all photos.
    """
    if "ok" not in _heif_state:
        try:
            import pillow_heif  # noqa: PLC0415

            pillow_heif.register_heif_opener()
            _heif_state["ok"] = True
        except Exception:  # noqa: BLE001 - missing or broken plugin: refuse HEIC clearly
            _heif_state["ok"] = False
    return _heif_state["ok"]


class DecodeError(Exception):
    """The bytes are not a decodable image.  ``code`` is a stable reason code."""

    def __init__(self, code: str, message_zh: str, message_en: str):
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en


@dataclass(frozen=True)
class ImageFacts:
    """What the file says about itself, read before/while decoding.

    ``width``/``height`` are after EXIF orientation.  ``dpi`` is the JFIF density when
    the unit is dots per inch, else ``None``; ``quantization`` maps table id → 64
    coefficients in natural (not zig-zag) order as Pillow reports them.
    """

    size_bytes: int
    format: str | None
    mode: str | None
    bits: int | None
    width: int
    height: int
    raw_width: int
    raw_height: int
    progressive: bool = False
    dpi: tuple[float, float] | None = None
    jfif_unit: int | None = None
    jfif_density: tuple[int, int] | None = None
    exif_orientation: int | None = None
    has_exif: bool = False
    has_icc: bool = False
    quantization: dict[int, list[int]] = field(default_factory=dict)
    subsampling: int | None = None
    sha256: str = ""
    draft_scale: float = 1.0


@dataclass(frozen=True)
class DetectionParams:
    """How faces are found (profile section ``[detection]``).

    Detection runs on a copy whose longer side is at most ``max_side`` px, first with
    ``upsample`` levels of dlib upsampling (0 = cheap: finds faces >= ~80 px in the
    working copy).  With ``upsample`` 0 and ``skip_levels`` > 0 that pass first scans
    without the ``skip_levels`` finest levels of dlib's image pyramid (one level: faces
    from ~86 px, about a quarter of the cost saved; every face it finds has exactly the
    box and score of the full scan); its result stands when its main face (the largest
    scoring ``primary_min_score``) is at least ``skip_min_width`` px wide in the working
    copy, else the full scan runs.  A standing result does not list faces smaller than
    the skipped levels find (further faces under ~86 px beside a large main face).
    When the first pass finds no face scoring ``primary_min_score`` or more,
    a second pass runs with ``fallback_upsample`` on a copy at most
    ``fallback_max_side`` long (finds faces down to ~40 px there; group photos and
    small frames — a spec photo never gets there).  ``min_score`` is the detector threshold offset for listing candidates.

    The main face is the largest candidate scoring at least ``primary_min_score``;
    another face only counts when its score reaches ``secondary_min_score`` and its box
    width is at least ``secondary_min_rel_width`` times the main face's (HOG finds round
    badges such as the astronaut's mission patch at low scores, real faces score higher).
    Values measured on the shared corpus: see ``tools/calibration/README.md``.
    """

    max_side: int = 640
    upsample: int = 0
    min_score: float = -0.3
    secondary_min_score: float = 0.3
    secondary_min_rel_width: float = 0.25
    fallback_upsample: int = 1
    primary_min_score: float = 0.0
    fallback_max_side: int = 1024
    skip_levels: int = 0
    skip_min_width: int = 100


def _read_source(source: Any) -> tuple[bytes, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        return p.read_bytes(), str(p)
    if hasattr(source, "read"):
        return source.read(), getattr(source, "name", None)
    raise TypeError(f"cannot read a photo from {type(source).__name__}")


class PhotoContext:
    """One photo, decoded once, with lazily computed face data.

    Parameters
    ----------
    source : bytes | str | os.PathLike | file-like | numpy.ndarray
        Encoded image bytes (preferred: format facts are kept), a path, or an already
        decoded ``(H, W, 3)`` uint8 RGB array (format facts are then unknown).
    detection : DetectionParams
    segmentation_params : qc.segment.SegmentationParams, optional
    max_decode_side : int, optional
        For big JPEGs, let libjpeg decode at a reduced scale (1/2, 1/4, 1/8) so the
        longer side stays at least this long.  Leave ``None`` for QC (exact pixels).
    name : str, optional
        File name for reports.
    """

    def __init__(self, source: Any, *, detection: DetectionParams | None = None,
                 max_decode_side: int | None = None, name: str | None = None,
                 segmentation_params: Any = None):
        self.detection = detection or DetectionParams()
        #: :class:`qc.segment.SegmentationParams` (``None``: defaults).
        self.segmentation_params = segmentation_params
        self.max_decode_side = max_decode_side
        self._array: np.ndarray | None = None
        if isinstance(source, np.ndarray):
            self.data = b""
            self._array = np.ascontiguousarray(source)
            self.name = name
        else:
            self.data, path = _read_source(source)
            self.name = name or path
        self._memo: dict[str, Any] = {}
        #: How many detection passes ran (0 = detection not run yet).
        self.detection_passes = 0
        #: 128-d encoding of the student's reference photo, set by :func:`qc.check_photo`
        #: for the ``identity_match`` check (``None``: no reference).
        self.reference_encoding: np.ndarray | None = None

    # ------------------------------------------------------------------ decoding
    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest() if self.data else ""

    @cached_property
    def _decoded(self) -> tuple[ImageFacts, np.ndarray]:
        if self._array is not None:
            a = self._array
            if a.ndim == 2:
                a = np.dstack([a] * 3)
            h, w = a.shape[:2]
            facts = ImageFacts(size_bytes=0, format=None, mode="RGB", bits=8, width=w, height=h,
                               raw_width=w, raw_height=h)
            return facts, a[:, :, :3].astype(np.uint8, copy=False)
        return decode(self.data, max_side=self.max_decode_side)

    @property
    def decode_error(self) -> DecodeError | None:
        try:
            self._decoded
        except DecodeError as e:
            return e
        return None

    @property
    def facts(self) -> ImageFacts:
        return self._decoded[0]

    @property
    def rgb(self) -> np.ndarray:
        """``(H, W, 3)`` uint8 RGB, EXIF orientation applied."""
        return self._decoded[1]

    @property
    def height(self) -> int:
        return self.rgb.shape[0]

    @property
    def width(self) -> int:
        return self.rgb.shape[1]

    @cached_property
    def gray(self) -> np.ndarray:
        import cv2  # noqa: PLC0415

        return cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY)

    @cached_property
    def lab(self) -> np.ndarray:
        """CIELAB (D65), float32, ``L`` in 0–100."""
        import cv2  # noqa: PLC0415

        return cv2.cvtColor(self.rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)

    # ------------------------------------------------------------------ faces
    @cached_property
    def candidates(self) -> list[_faces.Face]:
        """Every HOG detection (with landmarks), largest first, before the sanity rule.

        Two passes (see :class:`DetectionParams`): the fallback pass with more upsampling
        only runs when the cheap pass found no face scoring ``primary_min_score``.
        """
        p = self.detection
        found = None
        if p.skip_levels > 0 and p.upsample == 0:
            coarse = _faces.detect(self.rgb, max_side=p.max_side, min_score=p.min_score,
                                   skip_levels=p.skip_levels, with_landmarks=False)
            self.detection_passes = 1
            main = max((f for f in coarse if f.score >= p.primary_min_score),
                       key=lambda f: (f.box.area, f.score), default=None)
            if main is not None and main.box.width >= p.skip_min_width * self._detection_scale(p.max_side):
                found = [_faces.Face(box=f.box, score=f.score, landmarks=_faces.landmarks_for(self.rgb, f.box))
                         for f in coarse]
        if found is None:
            found = _faces.detect(self.rgb, max_side=p.max_side, upsample=p.upsample, min_score=p.min_score)
            self.detection_passes += 1
        if p.fallback_upsample > p.upsample and not any(f.score >= p.primary_min_score for f in found):
            found = _faces.detect(self.rgb, max_side=p.fallback_max_side, upsample=p.fallback_upsample,
                                  min_score=p.min_score)
            self.detection_passes += 1
        return found

    def _detection_scale(self, max_side: int) -> float:
        """Photo px per working-copy px of a detection pass on a copy at most ``max_side`` long."""
        h, w = self.rgb.shape[:2]
        return max(1.0, max(h, w) / float(max_side)) if max_side else 1.0

    @cached_property
    def faces(self) -> list[_faces.Face]:
        """Faces that count: the largest confident detection plus plausible others.

        A candidate below ``primary_min_score`` is never the main face (the dog collage's
        best HOG hit scores -0.17); a further face must pass ``secondary_min_score`` and
        ``secondary_min_rel_width`` (the astronaut's mission patch scores -0.05..0.12).
        """
        p = self.detection
        cands = [f for f in self.candidates if f.score >= p.primary_min_score]
        if not cands:
            return []
        main = max(cands, key=lambda f: (f.box.area, f.score))
        kept = [main]
        for f in cands:
            if f is main:
                continue
            if f.score >= p.secondary_min_score and f.box.width >= p.secondary_min_rel_width * main.box.width:
                kept.append(f)
        kept.sort(key=lambda f: f.box.area, reverse=True)
        return kept

    @property
    def face(self) -> _faces.Face | None:
        """The face when exactly one counts, else ``None``."""
        fs = self.faces
        return fs[0] if len(fs) == 1 else None

    @cached_property
    def encoding(self) -> np.ndarray | None:
        """128-d float32 encoding of :attr:`face` (computed on first use, ~75 ms)."""
        f = self.face
        return None if f is None else _faces.encode(self.rgb, f)

    # ------------------------------------------------------------------ person mask
    @cached_property
    def segmentation(self) -> "Segmentation":
        from .segment import segment_person  # noqa: PLC0415

        return segment_person(self.rgb, None, self.face, self.segmentation_params, memo=self.memo)

    @property
    def person_mask(self) -> np.ndarray:
        """``(H, W)`` bool: the person (hair, ornaments, clothes included)."""
        return self.segmentation.person

    @property
    def background_mask(self) -> np.ndarray:
        return self.segmentation.background

    @property
    def crown_y(self) -> int | None:
        """First row of the head (hair, buns, ornaments included), or ``None``."""
        return self.segmentation.crown_y

    def memo(self, key: str, fn):
        """Cache a derived value shared between checks (e.g. the face crop)."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]


@dataclass(frozen=True)
class Segmentation:
    """Person/background split of an image.

    ``person`` and ``background`` are ``(H, W)`` bool arrays (not necessarily
    complementary: an uncertain band between them belongs to neither).  ``bg_lab`` is
    the estimated backdrop colour (CIELAB), ``crown_y`` the first head row or ``None``,
    ``reliable`` is false when the backdrop is too busy for a colour model.
    """

    person: np.ndarray
    bg_lab: tuple[float, float, float]
    crown_y: int | None
    reliable: bool
    info: dict[str, Any] = field(default_factory=dict)
    #: ΔE*ab of each pixel of the small working copy from the backdrop model, ``(h, w)``
    #: float32 (``h, w`` = full size × ``scale``), or ``None``.
    backdrop_de: np.ndarray | None = None
    #: Coefficients ``(3, 6)`` of the backdrop model per CIELAB channel
    #: (``qc.segment._design`` terms over the working copy's normalised coordinates).
    model_coeffs: np.ndarray | None = None
    #: Size of the working copy relative to the full image (e.g. 0.5).
    scale: float = 1.0
    #: CIELAB of the small working copy, ``(h, w, 3)`` float32.
    lab_small: np.ndarray | None = None
    #: Person mask on the small working copy, ``(h, w)`` bool.
    person_small: np.ndarray | None = None
    #: Confident-backdrop mask on the small working copy, ``(h, w)`` bool.
    background_small: np.ndarray | None = None

    @cached_property
    def background(self) -> np.ndarray:
        """``(H, W)`` bool confident backdrop at full size (from :attr:`background_small`,
        made on first use: the checks read the small mask)."""
        import cv2  # noqa: PLC0415

        h, w = self.person.shape
        if self.background_small is None:
            return np.zeros((h, w), bool)
        small = np.ascontiguousarray(self.background_small, dtype=np.uint8)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST).view(bool)

    @cached_property
    def model_lab(self) -> np.ndarray | None:
        """The backdrop model (CIELAB) on the small working copy, ``(h, w, 3)`` float32
        (evaluated on first use: QC itself only needs :attr:`backdrop_de`)."""
        if self.model_coeffs is None or self.backdrop_de is None:
            return None
        from .segment import _surface  # noqa: PLC0415

        h, w = self.backdrop_de.shape
        x = np.arange(w) / max(1, w - 1) - 0.5
        y = np.arange(h) / max(1, h - 1) - 0.5
        return np.stack([_surface(b, x, y) for b in self.model_coeffs], axis=-1).astype(np.float32)


def _jfif_dpi(info: dict) -> tuple[tuple[float, float] | None, int | None, tuple[int, int] | None]:
    unit = info.get("jfif_unit")
    density = info.get("jfif_density")
    dpi = None
    if density is not None and unit == 1:
        dpi = (float(density[0]), float(density[1]))
    elif density is not None and unit == 2:
        dpi = (density[0] * 2.54, density[1] * 2.54)
    elif "dpi" in info and unit is None:
        try:
            dpi = (float(info["dpi"][0]), float(info["dpi"][1]))
        except (TypeError, ValueError, IndexError):
            dpi = None
    return dpi, unit, tuple(density) if density is not None else None


def decode(data: bytes, *, max_side: int | None = None) -> tuple[ImageFacts, np.ndarray]:
    """Decode image ``data`` to ``(facts, rgb)``.

    Raises :class:`DecodeError` (never another exception type) for empty, truncated,
    unknown, or oversized inputs.  Greyscale, palette, alpha, CMYK and 16-bit inputs are
    converted to 8-bit RGB here; the facts keep the original mode so ``colour_mode`` can
    reject them.
    """
    if not data:
        raise DecodeError("empty", "文件为空", "the file is empty")
    sha = hashlib.sha256(data).hexdigest()
    if is_heif(data) and not heif_available():
        raise DecodeError("heic_unsupported", "HEIC 格式暂不支持（未安装 HEIC 解码器）",
                          "HEIC is not supported here (no HEIC decoder installed)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            raw_w, raw_h = im.size
            if raw_w * raw_h > MAX_PIXELS:
                raise DecodeError("too_large",
                                  f"图像像素过多（{raw_w}×{raw_h}），拒绝解码",
                                  f"image has too many pixels ({raw_w}×{raw_h}); refused")
            info = dict(im.info)
            fmt = im.format
            mode = im.mode
            bits = getattr(im, "bits", None)
            if bits is None:
                bits = 16 if mode.startswith("I;16") or mode == "I" else 8
            quant = {}
            if fmt == "JPEG" and getattr(im, "quantization", None):
                quant = {int(k): list(v) for k, v in im.quantization.items()}
            subsampling = None
            if fmt == "JPEG":
                try:
                    from PIL import JpegImagePlugin  # noqa: PLC0415

                    subsampling = JpegImagePlugin.get_sampling(im)
                except Exception:  # pragma: no cover - diagnostic only
                    subsampling = None
            exif = im.getexif()
            orientation = exif.get(0x0112) if exif else None
            draft_scale = 1.0
            if max_side and fmt == "JPEG" and max(raw_w, raw_h) > 2 * max_side:
                # libjpeg DCT scaling: picks the largest 1/2^k reduction keeping >= the request.
                req = (max(1, raw_w * max_side // max(raw_w, raw_h)), max(1, raw_h * max_side // max(raw_w, raw_h)))
                im.draft("RGB", req)
                draft_scale = im.size[0] / float(raw_w)
            if fmt == "JPEG" and b"\xff\xd9" not in data[-4096:]:
                # No end-of-image marker: truncated.  (face_recognition sets Pillow's
                # LOAD_TRUNCATED_IMAGES globally, which would fill the rest with grey.)
                raise DecodeError("truncated", "图像文件不完整（被截断）", "image file is truncated")
            im.load()
            im = ImageOps.exif_transpose(im) if orientation and orientation != 1 else im
            rgb = _to_rgb8(im)
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DecodeError("too_large", "图像像素过多，疑似解压炸弹，拒绝解码",
                          "image has too many pixels (decompression bomb); refused") from None
    except UnidentifiedImageError:
        raise DecodeError("not_an_image", "不是可识别的图像文件", "not a recognised image file") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        msg = str(e)
        if "truncated" in msg.lower() or isinstance(e, EOFError):
            raise DecodeError("truncated", "图像文件不完整（被截断）", "image file is truncated") from None
        raise DecodeError("undecodable", f"图像无法解码：{msg}", f"image cannot be decoded: {msg}") from None
    dpi, unit, density = _jfif_dpi(info)
    h, w = rgb.shape[:2]
    facts = ImageFacts(
        size_bytes=len(data), format=fmt, mode=mode, bits=bits, width=w, height=h,
        raw_width=raw_w, raw_height=raw_h,
        progressive=bool(info.get("progressive") or info.get("progression")),
        dpi=dpi, jfif_unit=unit, jfif_density=density, exif_orientation=orientation,
        has_exif=bool(info.get("exif")), has_icc=bool(info.get("icc_profile")),
        quantization=quant, subsampling=subsampling, sha256=sha, draft_scale=draft_scale,
    )
    return facts, rgb


def _to_rgb8(im: Image.Image) -> np.ndarray:
    """Any Pillow mode → ``(H, W, 3)`` uint8 RGB (alpha composited on white)."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        g = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.dstack([g, g, g])
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        g = np.clip(a, 0, 255).astype(np.uint8)
        return np.dstack([g, g, g])
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im)
