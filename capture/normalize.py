"""Raw frame → spec photo: find the one face, level, scale, crop, encode.

How the numbers are decided
---------------------------
1. **Decode** once through :class:`qc.context.PhotoContext` (EXIF orientation applied).
   Big JPEGs are decoded with libjpeg's DCT scaling (Pillow ``draft``) so the longer side
   is at least :data:`DECODE_SIDE` px: a 4000×3000 original decodes at ¼ (1000×750) in
   a fraction of a full decode.  If the chosen scale needs more pixels than that draft
   has, the original is decoded again at the next sufficient DCT scale (½ or full).
2. **Find exactly one face** with :mod:`qc.faces` (through ``ctx.faces``, which applies
   the project's "secondary face" sanity rule), in tiers so the common case is cheap:
   HOG on a 640 px copy without upsampling, then with upsampling, then (large originals
   only) on a copy big enough to see the smallest face that could still be accepted.
3. **Measure** (:func:`capture.geometry.measure_face`): eye line, roll, jaw width, chin,
   and the top of the hair from the person mask (``ctx.segmentation``), or — on a busy
   backdrop — estimated as one jaw width above the eye line (warning ``crown_estimated``).
4. **Plan** (:func:`capture.geometry.plan_framing`): a grid search over scale ``s`` and the
   eye-midpoint position for the placement that keeps the spec limits with a 6 px
   safety margin (hair top 56–104, eye line 206–294, centre 222–258, chin ≤ 506, face
   width 186–294, eye distance ≥ 91), keeps the whole 480×640 rectangle inside the
   picture, and is closest to the targets (hair 64–80, eyes 250–275, face width in
   207–300 and near 240).  Roll up to ``max_roll_deg`` (10°) is levelled by rotating
   about the eye midpoint.
5. **Never fill, never invent resolution.**  No padding: a frame without room above the
   head, below the shoulders or at the sides is refused with a hint.  Enlargement is
   capped at ``max_upscale`` (default 1.25): a face whose eyes are closer than
   90 / 1.25 = 72 px in the original is refused as ``face_too_small``.  Why allow 25 %:
   the face-width band (≥ 207 px) and the 90 px eye distance ask for slightly more than
   many real captures carry (a face with 82 px between the eyes needs ×1.1–1.2), and a
   ×1.25 bicubic enlargement of a sharp original stays well above the QC sharpness
   threshold, which is measured on a fixed-size face crop.  Enlarged outputs carry the
   ``upscaled`` warning with the factor; ``Template(max_upscale=1.0)`` forbids it.
6. **Render** (see :func:`render`): anti-alias for the scale (area averaging for strong
   reductions, a matched Gaussian for mild ones), then rotate/translate with Lanczos
   interpolation, continuously in the scale; border pixels are replicated only
   for the sub-pixel fringe of the rectangle (the plan keeps every output pixel centre
   inside the picture).
7. **Encode** baseline JPEG (JFIF, 300 dpi, no EXIF/ICC/comment: built from the array),
   4:2:0 chroma (the budget goes to luma detail, which the sharpness and landmark
   checks read; skin and a plain backdrop carry little chroma detail), searching the IJG
   quality (60–100) for the largest quality whose file is ≤ 40 000 bytes.

The result keeps the original bytes and the transform, and :func:`reproduce` rebuilds
the identical JPEG from them.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qc.context import DecodeError, DetectionParams, PhotoContext, decode

from ._pillow import strict_truncation
from .errors import Hint, NormalizeError
from .frames import Frame
from .geometry import FaceGeometry, Plan, estimate_yaw_deg, measure_face, plan_framing
from .template import Template

__all__ = ["normalize", "reproduce", "NormalizedPhoto", "Transform", "encode_jpeg", "render",
           "DECODE_SIDE", "REFUSALS"]

#: Longer side (px) that big JPEGs are at least decoded at before detection.
DECODE_SIDE = 1000
#: Yaw (degrees) above which the result carries a ``head_turned`` warning.
YAW_WARN_DEG = 8.0

_TIER_BASE = (DetectionParams(max_side=640, upsample=0), DetectionParams(max_side=640, upsample=1))

#: Refusal code → (Chinese message, English message, hints).  Messages may use
#: ``{...}`` fields filled from the error's details.
REFUSALS: dict[str, tuple[str, str, tuple[Hint, ...]]] = {
    "undecodable": ("图像无法读取：{detail}", "the image cannot be read: {detail_en}",
                    (Hint("resend", "请重新拍摄或重新上传", "take or upload the photo again"),)),
    "no_face": ("未检测到人脸", "no face found",
                (Hint("face_camera", "请正对镜头，确保脸部光线充足、没有遮挡",
                      "face the camera with the face well lit and uncovered"),)),
    "multiple_faces": ("检测到 {count} 张人脸，照片中只能有一个人", "{count} faces found; only one person may be in the photo",
                       (Hint("one_person", "请让其他人离开画面", "ask everyone else to leave the frame"),)),
    "face_too_small": ("脸部太小：原图两眼间距 {eye_distance:.0f} 像素，放大不超过 {max_upscale:g} 倍时达不到 {min_eye_distance:.0f} 像素",
                       "face too small: {eye_distance:.0f} px between the eyes cannot reach {min_eye_distance:.0f} px without upscaling more than {max_upscale:g}×",
                       (Hint("closer", "请靠近一点，或提高相机分辨率", "move closer or use a higher camera resolution"),)),
    "roll_too_large": ("头部倾斜 {roll:.0f}°（最多可自动校正 {max_roll:.0f}°）", "head tilted {roll:.0f}° (at most {max_roll:.0f}° is levelled automatically)",
                       (Hint("level_head", "请把头摆正，双眼保持水平", "hold the head straight, eyes level"),)),
    "head_cut_top": ("头顶被裁切：头发碰到了画面上边缘", "the top of the head is cut off: the hair touches the top edge",
                     (Hint("raise_camera", "请升高相机或让学生坐低一点，也可以后退一点",
                           "raise the camera or have the student sit lower, or step back a little"),)),
    "no_room_top": ("头顶上方空间不足，无法在不补边的情况下达到规定的头顶位置",
                    "not enough room above the head to place the hair top without padding",
                    (Hint("raise_camera", "请升高相机或让学生坐低一点，也可以后退一点",
                          "raise the camera or have the student sit lower, or step back a little"),)),
    "no_room_bottom": ("肩部以下空间不足，画面下方无法到达规定位置", "not enough room below the shoulders",
                       (Hint("step_back", "请后退一点，或降低相机", "step back a little or lower the camera"),)),
    "no_room_side": ("两侧空间不足（人物太靠{side}边或太近）", "not enough room at the {side_en} side (too close, or off-centre)",
                     (Hint("centre", "请站到画面中间，或后退一点", "move to the middle of the frame or step back a little"),)),
    "head_proportions": ("头顶到眼睛的距离相对脸宽过大（帽子或高发髻？），无法同时满足头顶、眼睛和脸宽的要求",
                         "the head top is too far above the eyes for the face width (hat or high bun?)",
                         (Hint("no_hat", "请摘下帽子、放低发髻", "remove any hat and lower a high bun"),)),
    "file_too_large": ("图像细节/噪点过多：质量 {quality} 时仍有 {kb:.0f} KB，超过 {max_kb:.0f} KB",
                       "too much detail/noise: still {kb:.0f} KB at quality {quality}, above {max_kb:.0f} KB",
                       (Hint("light", "请增加照明以降低噪点", "add light to reduce sensor noise"),)),
}

_WARNINGS = {
    "crown_estimated": ("背景不够单一，头顶位置由面部特征点估算", "busy backdrop: the hair top was estimated from the landmarks"),
    "upscaled": ("原图被放大 {scale:.2f} 倍（原图两眼间距 {eye_distance:.0f} 像素）", "the original was enlarged {scale:.2f}× ({eye_distance:.0f} px between the eyes)"),
    "face_width_outside_pass_band": ("脸宽 {face_width:.0f} 像素，不在 207–300 像素内", "face width {face_width:.0f} px is outside 207–300 px"),
    "file_size_below_target": ("文件 {kb:.1f} KB，小于目标 30 KB", "file is {kb:.1f} KB, below the 30 KB target"),
    "file_size_above_target": ("文件 {kb:.1f} KB，大于目标 40 KB", "file is {kb:.1f} KB, above the 40 KB target"),
    "head_turned": ("头部偏转约 {yaw:.0f}°：请正对镜头", "head turned about {yaw:.0f}°: face the camera"),
}


def _fmt(text: str, values: dict[str, Any]) -> str:
    try:
        return text.format(**values)
    except (KeyError, ValueError, IndexError):
        return text


def _refuse(code: str, extra_hints: tuple[Hint, ...] = (), **details: Any) -> NormalizeError:
    zh, en, hints = REFUSALS[code]
    return NormalizeError(code, _fmt(zh, details), _fmt(en, details), list(hints) + list(extra_hints), details)


def _warning(code: str, **values: Any) -> Hint:
    zh, en = _WARNINGS[code]
    return Hint(code, _fmt(zh, values), _fmt(en, values))


# ---------------------------------------------------------------------- result types
@dataclass(frozen=True)
class Transform:
    """How the output was made from the original, enough to rebuild it exactly.

    Attributes
    ----------
    matrix : tuple of 6 floats
        Row-major ``(2, 3)`` affine map from original pixel centres (full resolution,
        after EXIF orientation) to output pixel centres.
    rotation_deg : float
        Rotation applied to level the eyes (counter-clockwise positive in image terms:
        it is ``−roll``).
    scale : float
        Output pixels per original pixel.
    output_size : (int, int)
        ``(width, height)`` of the output.
    source_size : (int, int)
        ``(width, height)`` of the original after EXIF orientation.
    crop_box : (float, float, float, float)
        ``(left, top, right, bottom)`` in original pixels: the axis-aligned bounds of the
        area that became the output (pixel edges).
    corners : tuple of 4 (x, y)
        The output's corner pixel centres TL, TR, BR, BL in original pixels.
    exif_orientation : int | None
        EXIF orientation of the original (already applied to the coordinates above).
    decode_max_side : int | None
        The ``max_side`` passed to :func:`qc.context.decode` to get the pixels that were
        rendered (``None`` = full decode); ``decode_scale`` is the resulting DCT scale.
    quality, subsampling, dpi
        JPEG encoder settings.
    """

    matrix: tuple[float, float, float, float, float, float]
    rotation_deg: float
    scale: float
    output_size: tuple[int, int]
    source_size: tuple[int, int]
    crop_box: tuple[float, float, float, float]
    corners: tuple[tuple[float, float], ...]
    exif_orientation: int | None
    decode_max_side: int | None
    decode_scale: float
    quality: int
    subsampling: str
    dpi: int

    @property
    def matrix_array(self) -> np.ndarray:
        """``(2, 3)`` float64 array of :attr:`matrix`."""
        return np.array(self.matrix, dtype=np.float64).reshape(2, 3)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping; :meth:`from_dict` restores the same transform exactly."""
        return {"matrix": list(self.matrix), "rotation_deg": self.rotation_deg, "scale": self.scale,
                "output_size": list(self.output_size), "source_size": list(self.source_size),
                "crop_box": list(self.crop_box), "corners": [list(c) for c in self.corners],
                "exif_orientation": self.exif_orientation, "decode_max_side": self.decode_max_side,
                "decode_scale": self.decode_scale, "quality": self.quality,
                "subsampling": self.subsampling, "dpi": self.dpi}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Transform":
        return cls(matrix=tuple(float(v) for v in d["matrix"]), rotation_deg=float(d["rotation_deg"]),
                   scale=float(d["scale"]), output_size=tuple(int(v) for v in d["output_size"]),
                   source_size=tuple(int(v) for v in d["source_size"]),
                   crop_box=tuple(float(v) for v in d["crop_box"]),
                   corners=tuple(tuple(float(v) for v in c) for c in d["corners"]),
                   exif_orientation=d.get("exif_orientation"), decode_max_side=d.get("decode_max_side"),
                   decode_scale=float(d["decode_scale"]), quality=int(d["quality"]),
                   subsampling=str(d["subsampling"]), dpi=int(d["dpi"]))


@dataclass
class NormalizedPhoto:
    """A spec photo made from one original.

    Attributes
    ----------
    jpeg : bytes
        The output file (baseline JPEG, ``template.width × template.height``).
    sha256 : str
        SHA-256 of :attr:`jpeg` (hex).
    original : bytes
        The original bytes as received (a PNG of the array when an array was given).
    original_sha256 : str
    transform : Transform
    geometry : dict
        Predicted output geometry in px: ``crown_y``, ``eye_y``, ``chin_y``,
        ``face_width``, ``eye_distance``, ``centre_x``, ``roll_deg`` (landmarks and the
        hair top mapped through the transform; QC re-measures on the output).
    quality : int
        IJG quality chosen by the size search.
    warnings : list[Hint]
        Things the operator should know (``upscaled``, ``crown_estimated``...).
    timings_ms : dict
        Wall time per stage.
    source_face : dict
        The face in the original: detector box, score, eye distance, jaw width, roll, yaw.
    """

    jpeg: bytes
    sha256: str
    original: bytes
    original_sha256: str
    transform: Transform
    geometry: dict[str, float]
    quality: int
    warnings: list[Hint] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    source_face: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    @property
    def size_bytes(self) -> int:
        return len(self.jpeg)

    @property
    def warning_codes(self) -> list[str]:
        return [w.code for w in self.warnings]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no image bytes)."""
        return {"name": self.name, "sha256": self.sha256, "bytes": self.size_bytes,
                "original_sha256": self.original_sha256, "original_bytes": len(self.original),
                "quality": self.quality, "geometry": self.geometry, "transform": self.transform.to_dict(),
                "warnings": [w.to_dict() for w in self.warnings], "source_face": self.source_face,
                "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()}}

    def save(self, path: str | os.PathLike) -> None:
        """Write :attr:`jpeg` to ``path`` atomically (temporary file + rename)."""
        tmp = f"{os.fspath(path)}.part-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(self.jpeg)
        os.replace(tmp, path)


# ---------------------------------------------------------------------- rendering & encoding
def _decoded_matrix(matrix: np.ndarray, d: float) -> np.ndarray:
    """Source→output ``matrix`` re-expressed for pixels decoded at DCT scale ``d``.

    Pixel centres: ``p_src = (p_dec + 0.5) / d − 0.5``.
    """
    a, b = matrix[:, :2], matrix[:, 2]
    return np.hstack([a / d, (b + a @ np.full(2, 0.5 / d - 0.5))[:, None]])


def render(rgb: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int], *, decode_scale: float = 1.0
           ) -> np.ndarray:
    """Resample ``rgb`` (``(h, w, 3)`` uint8, decoded at ``decode_scale``) through ``matrix``.

    Parameters
    ----------
    rgb : numpy.ndarray
        Decoded pixels, ``(h, w, 3)`` uint8.
    matrix : numpy.ndarray
        ``(2, 3)`` source (full resolution) → output map.
    out_size : (int, int)
        ``(width, height)`` of the output.
    decode_scale : float
        Decoded pixels per full-resolution pixel.

    Returns
    -------
    numpy.ndarray
        ``(height, width, 3)`` uint8.

    Resampling keeps the face's fine detail (the ``sharpness`` check reads it) without
    aliasing, continuously in the scale ``k``: a strong reduction (``k < 0.5``) first
    reduces the covered region with area averaging (``cv2.INTER_AREA``) to a remaining
    scale of 0.75; a mild reduction is pre-filtered with a Gaussian of
    ``σ = 0.5·√(1/k² − 1)`` source pixels (the usual anti-alias width: ≈ 0.16 px at
    k = 0.95, 0.87 px at k = 0.5); the warp itself uses Lanczos interpolation.  (Area
    averaging at k ≈ 0.95 would blend two source pixels into most output pixels and
    halve the measured sharpness, so it is not used for mild reductions.)
    """
    import cv2  # noqa: PLC0415

    m = _decoded_matrix(np.asarray(matrix, dtype=np.float64), decode_scale)
    k = float(math.sqrt(abs(np.linalg.det(m[:, :2]))))
    w_out, h_out = out_size
    h, w = rgb.shape[:2]
    src = np.ascontiguousarray(rgb)
    if k < 0.5:
        inv = cv2.invertAffineTransform(m)
        corners = np.array([[0, 0], [w_out - 1, 0], [w_out - 1, h_out - 1], [0, h_out - 1]], dtype=np.float64)
        pts = corners @ inv[:, :2].T + inv[:, 2]
        pad = 4.0 + 2.0 / k
        x0 = int(max(0, math.floor(pts[:, 0].min() - pad)))
        y0 = int(max(0, math.floor(pts[:, 1].min() - pad)))
        x1 = int(min(w, math.ceil(pts[:, 0].max() + pad) + 1))
        y1 = int(min(h, math.ceil(pts[:, 1].max() + pad) + 1))
        roi = rgb[y0:y1, x0:x1]
        rw, rh = x1 - x0, y1 - y0
        r = k / 0.75
        nw, nh = max(1, int(round(rw * r))), max(1, int(round(rh * r)))
        src = cv2.resize(roi, (nw, nh), interpolation=cv2.INTER_AREA)
        kx, ky = nw / rw, nh / rh
        # p_dec = (p_small + 0.5) / k_xy − 0.5 + (x0, y0)
        to_dec = np.array([[1.0 / kx, 0.0, 0.5 / kx - 0.5 + x0], [0.0, 1.0 / ky, 0.5 / ky - 0.5 + y0]])
        m = np.hstack([m[:, :2] @ to_dec[:, :2], (m[:, :2] @ to_dec[:, 2] + m[:, 2])[:, None]])
        k = float(math.sqrt(abs(np.linalg.det(m[:, :2]))))
    if k < 1.0 - 1e-6:
        sigma = 0.5 * math.sqrt(1.0 / (k * k) - 1.0)
        src = cv2.GaussianBlur(src, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
    out = cv2.warpAffine(src, m, (w_out, h_out), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REPLICATE)
    return out


def encode_jpeg(rgb: np.ndarray, quality: int, *, dpi: int = 300, subsampling: str = "4:2:0") -> bytes:
    """Baseline JPEG of ``rgb`` (``(H, W, 3)`` uint8): JFIF with ``dpi``, no EXIF/ICC/comment.

    The image is built from the array, so nothing from an original file's metadata can
    leak into it; Huffman tables are optimised (still baseline, SOF0).
    """
    from PIL import Image  # noqa: PLC0415

    im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=int(quality), dpi=(dpi, dpi), optimize=True, progressive=False,
            subsampling=2 if subsampling == "4:2:0" else 0)
    return buf.getvalue()


def _search_quality(rgb: np.ndarray, t: Template) -> tuple[bytes, int, list[Hint]]:
    """Largest quality in ``[jpeg_quality_min, jpeg_quality_max]`` whose file is ≤ the target's top."""
    lo_b, hi_b = t.target_bytes
    enc = {}

    def size_at(q: int) -> int:
        if q not in enc:
            enc[q] = encode_jpeg(rgb, q, dpi=t.dpi, subsampling=t.subsampling)
        return len(enc[q])

    qlo, qhi = t.jpeg_quality_min, t.jpeg_quality_max
    warnings: list[Hint] = []
    if size_at(qlo) > hi_b:
        kb = size_at(qlo) / 1000.0
        if size_at(qlo) > t.max_bytes:
            raise _refuse("file_too_large", quality=qlo, kb=kb, max_kb=t.max_size_kb)
        warnings.append(_warning("file_size_above_target", kb=kb))
        return enc[qlo], qlo, warnings
    # Invariant: size(qlo) <= hi_b.  Find the largest q with size <= hi_b.
    # Start near the usual answer (sizes grow steeply above ~90) to save encodes.
    guess = min(qhi, max(qlo, 85))
    if size_at(guess) <= hi_b:
        qlo = guess
    else:
        qhi = guess - 1
    while qlo < qhi:
        mid = (qlo + qhi + 1) // 2
        if size_at(mid) <= hi_b:
            qlo = mid
        else:
            qhi = mid - 1
    data = enc[qlo] if qlo in enc else encode_jpeg(rgb, qlo, dpi=t.dpi, subsampling=t.subsampling)
    if len(data) < lo_b:
        warnings.append(_warning("file_size_below_target", kb=len(data) / 1000.0))
    return data, qlo, warnings


# ---------------------------------------------------------------------- input handling
def _as_input(raw: Any) -> tuple[bytes | None, np.ndarray | None, str | None]:
    """``raw`` → ``(encoded bytes or None, array or None, name)``."""
    name = None
    if isinstance(raw, Frame):
        name = raw.name
        if raw.data is not None:
            return bytes(raw.data), None, name
        raw = raw.rgb
    if isinstance(raw, np.ndarray):
        a = raw
        if a.dtype != np.uint8:
            raise _refuse("undecodable", detail=f"数组类型 {a.dtype}（需要 uint8）", detail_en=f"array dtype {a.dtype} (need uint8)",
                          decode_code="bad_array")
        if a.ndim == 2:
            a = np.dstack([a, a, a])
        if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < 1:
            raise _refuse("undecodable", detail=f"数组形状 {a.shape}（需要 H×W×3）", detail_en=f"array shape {a.shape} (need H×W×3)",
                          decode_code="bad_array")
        return None, np.ascontiguousarray(a[:, :, :3]), name
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return bytes(raw), None, name
    if isinstance(raw, (str, os.PathLike)):
        try:
            with open(raw, "rb") as f:
                return f.read(), None, os.path.basename(os.fspath(raw))
        except OSError as e:
            raise _refuse("undecodable", detail=f"无法读取文件（{e.strerror or e}）", detail_en=f"cannot read the file ({e.strerror or e})",
                          decode_code="unreadable") from None
    raise _refuse("undecodable", detail=f"不支持的输入类型 {type(raw).__name__}",
                  detail_en=f"unsupported input type {type(raw).__name__}", decode_code="bad_type")


def _png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image  # noqa: PLC0415

    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _detect_tiers(rgb: np.ndarray, d: float, t: Template) -> list[DetectionParams]:
    """Detection settings to try in order on the decoded image (see module docstring)."""
    tiers = list(_TIER_BASE)
    long_dec = max(rgb.shape[:2])
    # Smallest face box (decoded px) that could still be accepted: ≈ 2.2 × eye distance.
    min_box = 2.2 * (t.min_eye_distance / t.max_upscale) * d
    need_side = int(math.ceil(long_dec * 40.0 / max(min_box, 1.0)))  # ≥ 40 px with upsample 1
    if need_side > 640:
        tiers.append(DetectionParams(max_side=min(long_dec, need_side), upsample=1))
    return tiers


def _find_face(first: PhotoContext, rgb: np.ndarray, d: float, t: Template) -> PhotoContext:
    """The context whose ``faces`` decided (first tier with any face)."""
    tiers = _detect_tiers(rgb, d, t)
    ctx = first
    for i, params in enumerate(tiers):
        if i > 0:
            ctx = PhotoContext(rgb, detection=params, name=first.name)
        if ctx.faces:
            return ctx
    return ctx


# ---------------------------------------------------------------------- the normaliser
def normalize(raw: Any, template: Template | None = None, *, name: str | None = None) -> NormalizedPhoto:
    """Make a spec photo from a raw frame.

    Parameters
    ----------
    raw : bytes | str | os.PathLike | numpy.ndarray | capture.Frame
        Encoded image (JPEG, PNG, ... as Pillow reads them), a path, an ``(H, W, 3)`` uint8
        RGB array, or a :class:`capture.Frame`.
    template : Template, optional
        Canvas and targets (default: the 480×640 spec template).
    name : str, optional
        File name for reports.

    Returns
    -------
    NormalizedPhoto

    Raises
    ------
    NormalizeError
        With ``code`` in :data:`REFUSALS` when the frame cannot be made into a spec photo.
    """
    t = template or Template()
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    strict_truncation()
    data, arr, in_name = _as_input(raw)
    name = name or in_name

    # -- decode
    if arr is not None:
        original = _png_bytes(arr)
        first = PhotoContext(arr, detection=_TIER_BASE[0], name=name)
        decode_max_side: int | None = None
        exif_orientation = None
    else:
        original = data or b""
        first = PhotoContext(original, detection=_TIER_BASE[0], max_decode_side=DECODE_SIDE, name=name)
        decode_max_side = DECODE_SIDE
    try:
        rgb = first.rgb
    except DecodeError as e:
        raise _refuse("undecodable", detail=e.message_zh, decode_code=e.code,
                      detail_en=e.message_en) from None
    facts = first.facts
    if arr is None:
        exif_orientation = facts.exif_orientation
        if facts.draft_scale == 1.0:
            decode_max_side = None
    d = float(facts.draft_scale)
    src_w = int(round(rgb.shape[1] / d)) if d != 1.0 else rgb.shape[1]
    src_h = int(round(rgb.shape[0] / d)) if d != 1.0 else rgb.shape[0]
    if d != 1.0:  # exact oriented full-resolution size
        if facts.exif_orientation in (5, 6, 7, 8):
            src_w, src_h = facts.raw_height, facts.raw_width
        else:
            src_w, src_h = facts.raw_width, facts.raw_height
    times["decode"] = (time.perf_counter() - t0) * 1000

    # -- faces
    t1 = time.perf_counter()
    ctx = _find_face(first, rgb, d, t)
    faces = ctx.faces
    times["detect"] = (time.perf_counter() - t1) * 1000
    if not faces:
        raise _refuse("no_face", count=0)
    if len(faces) > 1:
        raise _refuse("multiple_faces", count=len(faces),
                      boxes=[[round(v / d) for v in (f.box.left, f.box.top, f.box.right, f.box.bottom)] for f in faces])
    face = faces[0]

    # -- measure (landmarks to full-resolution source pixels)
    t2 = time.perf_counter()
    lm_src = (face.landmarks + 0.5) / d - 0.5
    roll = float(face.roll_deg)
    if abs(roll) > t.max_roll_deg:  # before segmenting: nothing else matters
        raise _refuse("roll_too_large", roll=abs(roll), max_roll=t.max_roll_deg, roll_deg=round(roll, 2))
    seg = ctx.segmentation
    box_src = tuple(float((v + 0.5) / d - 0.5) for v in (face.box.left, face.box.top, face.box.right, face.box.bottom))
    geom, mwarn = measure_face(lm_src, mask=seg.person, mask_scale=d, mask_reliable=seg.reliable, box=box_src)
    yaw = estimate_yaw_deg(lm_src)
    times["measure"] = (time.perf_counter() - t2) * 1000
    source_face = {"box": [round(v, 1) for v in box_src], "score": round(face.score, 3),
                   "eye_distance": round(geom.eye_distance, 1), "jaw_width": round(geom.jaw_width, 1),
                   "roll_deg": round(geom.roll_deg, 2), "yaw_deg": round(yaw, 1),
                   "crown_above_eyes": round(geom.crown_above_eyes, 1), "crown_source": geom.crown_source,
                   "segmentation_reliable": bool(seg.reliable), "decode_scale": d}

    # -- plan
    t3 = time.perf_counter()
    plan = plan_framing(geom, (src_w, src_h), t)
    times["plan"] = (time.perf_counter() - t3) * 1000
    if not plan.feasible:
        raise _plan_error(plan, geom, t)

    # -- render (re-decode at a finer DCT scale if the draft is too coarse)
    t4 = time.perf_counter()
    render_rgb, render_d, render_side = rgb, d, decode_max_side
    if arr is None and d < 1.0 and plan.scale > d * 1.0001:
        strict_truncation()
        render_side = int(math.ceil(plan.scale * max(src_w, src_h)))
        if 2 * render_side >= max(facts.raw_width, facts.raw_height):
            render_side = None
        try:
            f2, render_rgb = decode(original, max_side=render_side)
        except DecodeError as e:  # pragma: no cover - it decoded a moment ago
            raise _refuse("undecodable", detail=e.message_zh, detail_en=e.message_en, decode_code=e.code) from None
        render_d = float(f2.draft_scale)
    out = render(render_rgb, plan.matrix, t.size, decode_scale=render_d)
    times["render"] = (time.perf_counter() - t4) * 1000

    # -- encode
    t5 = time.perf_counter()
    jpeg, quality, ewarn = _search_quality(out, t)
    times["encode"] = (time.perf_counter() - t5) * 1000
    times["total"] = (time.perf_counter() - t0) * 1000

    warnings = [_warning(c) for c in mwarn]
    for c in plan.warnings:
        if c == "upscaled":
            warnings.append(_warning(c, scale=plan.scale, eye_distance=geom.eye_distance))
        elif c == "face_width_outside_pass_band":
            warnings.append(_warning(c, face_width=plan.face_width))
    if abs(yaw) > YAW_WARN_DEG:
        warnings.append(_warning("head_turned", yaw=abs(yaw)))
    warnings.extend(ewarn)

    transform = _make_transform(plan, t, (src_w, src_h), exif_orientation, render_side, render_d, quality)
    return NormalizedPhoto(jpeg=jpeg, sha256=hashlib.sha256(jpeg).hexdigest(), original=original,
                           original_sha256=hashlib.sha256(original).hexdigest(), transform=transform,
                           geometry=plan.geometry(), quality=quality, warnings=warnings, timings_ms=times,
                           source_face=source_face, name=name)


def _make_transform(plan: Plan, t: Template, source_size: tuple[int, int], exif_orientation: int | None,
                    decode_max_side: int | None, decode_scale: float, quality: int) -> Transform:
    corners = plan.corners_source(t)
    half = 0.5 / plan.scale
    box = (float(corners[:, 0].min() - half), float(corners[:, 1].min() - half),
           float(corners[:, 0].max() + half), float(corners[:, 1].max() + half))
    return Transform(matrix=tuple(float(v) for v in plan.matrix.ravel()), rotation_deg=float(plan.rotation_deg),
                     scale=float(plan.scale), output_size=t.size, source_size=tuple(int(v) for v in source_size),
                     crop_box=tuple(round(v, 2) for v in box),
                     corners=tuple((round(float(x), 2), round(float(y), 2)) for x, y in corners),
                     exif_orientation=exif_orientation, decode_max_side=decode_max_side,
                     decode_scale=decode_scale, quality=int(quality), subsampling=t.subsampling, dpi=t.dpi)


def _plan_error(plan: Plan, geom: FaceGeometry, t: Template) -> NormalizeError:
    """Turn an infeasible plan into the refusal for its first problem, with every hint."""
    details: dict[str, Any] = {"problems": list(plan.problems), "violations_px": plan.violations,
                               "eye_distance": geom.eye_distance, "min_eye_distance": t.min_eye_distance,
                               "max_upscale": t.max_upscale, "jaw_width": geom.jaw_width,
                               "crown_source": geom.crown_source}
    if "no_room_side" in plan.problems:
        left = plan.violations.get("left", 0) >= plan.violations.get("right", 0)
        details["side"], details["side_en"] = ("左", "left") if left else ("右", "right")
    first = plan.problems[0]
    extra: list[Hint] = []
    seen = {h.code for h in REFUSALS[first][2]}
    for code in plan.problems[1:]:
        for h in REFUSALS[code][2]:
            if h.code not in seen:
                extra.append(h)
                seen.add(h.code)
    return _refuse(first, tuple(extra), **details)


def reproduce(original: bytes, transform: Transform | dict[str, Any]) -> bytes:
    """Rebuild the output JPEG from the original bytes and its :class:`Transform`.

    Decodes ``original`` the same way (``decode_max_side``), renders through the same
    matrix and encodes at the recorded quality: with the same library versions the
    result is byte-identical to :attr:`NormalizedPhoto.jpeg`.

    Raises
    ------
    NormalizeError
        ``undecodable`` when the original cannot be decoded or its decode scale differs.
    """
    tr = transform if isinstance(transform, Transform) else Transform.from_dict(transform)
    strict_truncation()
    try:
        facts, rgb = decode(original, max_side=tr.decode_max_side)
    except DecodeError as e:
        raise _refuse("undecodable", detail=e.message_zh, detail_en=e.message_en, decode_code=e.code) from None
    if abs(facts.draft_scale - tr.decode_scale) > 1e-9:
        raise _refuse("undecodable", detail=f"解码比例 {facts.draft_scale} 与记录的 {tr.decode_scale} 不一致",
                      detail_en=f"decode scale {facts.draft_scale} differs from the recorded {tr.decode_scale}",
                      decode_code="scale_mismatch")
    out = render(rgb, tr.matrix_array, tr.output_size, decode_scale=tr.decode_scale)
    return encode_jpeg(out, tr.quality, dpi=tr.dpi, subsampling=tr.subsampling)
