"""Live guidance for the preview: where the photo would land if captured now, and what to fix.

:func:`guide` looks at one preview frame (typically 640×480 from the browser) and returns
:class:`Hints`: whether one face is there, the framing the normaliser would choose (the
same planner, run in the coordinates of the *capture* resolution, which may be larger
than the preview), and short Chinese/English instructions with their numbers.

Speed: the frame is reduced so its longer side is ``GuideParams.detect_side`` (320 px);
HOG first runs without upsampling (faces ≥ 80 px there, ≥ 160 px in a 640×480 preview —
the usual size at a good distance), then with one upsampling level (faces down to ~80 px
in the preview) only if that found nothing.  Landmarks, the person mask and the plan run
on the same copy.  Keep one :class:`Guide` per preview stream: it starts with the tier
that worked last and re-measures the hair top (the person mask, the costliest part) only
every ``seg_every`` frames.  Numbers: ``bench/capture_bench.py``.

Directions ("left"/"right") are in **image** coordinates of the frame passed in; a page
that shows a mirrored preview must mirror them.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qc.context import DetectionParams, PhotoContext

from .errors import CaptureError
from .frames import Frame
from .geometry import estimate_yaw_deg, measure_face, plan_framing
from .template import Template

__all__ = ["guide", "Guide", "Hints", "GuideHint", "GuideParams"]


@dataclass(frozen=True)
class GuideParams:
    """Guidance thresholds.

    ``detect_side``: longer side (px) of the working copy everything runs on;
    ``tiers``: detection attempts ``(max_side, upsample)`` on that copy, cheapest first
    (a :class:`Guide` tries the tier that found the face last time first);
    ``seg_every``: a :class:`Guide` re-measures the hair top with the person mask every
    this many frames and reuses the person's crown/jaw ratio in between;
    ``dark_luma``/``bright_luma``: face mean luma (0–255) below/above which the light is
    too dark/bright (the spec's ``exposure`` check passes 100–200); ``clipped_share``:
    share of face pixels ≥ 250 that counts as blown out; ``roll_warn_deg``/``yaw_warn_deg``:
    angles worth a hint; ``off_centre_share``: eye-midpoint offset from the frame centre,
    as a share of the frame width, worth a hint even when the framing still fits.
    """

    detect_side: int = 320
    tiers: tuple[tuple[int, int], ...] = ((320, 0), (320, 1))
    seg_every: int = 4
    dark_luma: float = 100.0
    bright_luma: float = 200.0
    clipped_share: float = 0.05
    roll_warn_deg: float = 2.0
    yaw_warn_deg: float = 5.0
    off_centre_share: float = 0.2


@dataclass(frozen=True)
class GuideHint:
    """One instruction: ``code``, Chinese, English, ``severity`` (``block`` = cannot capture yet,
    ``warn`` = can capture but QC may warn/fail), and the numbers behind it."""

    code: str
    zh: str
    en: str
    severity: str = "block"
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"code": self.code, "zh": self.zh, "en": self.en, "severity": self.severity}
        if self.value is not None:
            d["value"] = round(float(self.value), 2)
        return d


@dataclass
class Hints:
    """Guidance for one preview frame.

    Attributes
    ----------
    face_found : bool
        Exactly one face is visible.
    faces : int
        Faces counted.
    ready : bool
        A capture now would normalise (framing fits and nothing blocks).
    hints : list[GuideHint]
        What to fix, most important first; empty when all is well.
    numbers : dict
        Measurements: ``roll_deg``, ``yaw_deg``, ``eye_distance_px`` and
        ``face_width_px`` (capture pixels), ``face_luma`` (0–255), ``clipped_share``,
        ``scale`` (output px per capture px).
    predicted : dict
        Where things would land on the 480×640 output (px): ``crown_y``, ``eye_y``,
        ``chin_y``, ``face_width``, ``eye_distance``, ``centre_x``, and ``feasible``.
    overlay : dict
        Preview-frame pixel coordinates for drawing: ``face_box`` ``[l, t, r, b]``,
        ``eyes`` ``[[x, y], [x, y]]``, ``crown`` ``[x, y]``, ``crop`` (4 corners of the
        output rectangle, TL TR BR BL), ``crown_band``/``eye_band`` (two lines each, as
        ``[[x0, y0], [x1, y1]]``), ``centre_line``.
    frame_size, capture_size : (int, int)
        ``(width, height)`` of the preview and of the capture it stands for.
    elapsed_ms : float
    """

    face_found: bool
    faces: int
    ready: bool
    hints: list[GuideHint] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    predicted: dict[str, Any] = field(default_factory=dict)
    overlay: dict[str, Any] = field(default_factory=dict)
    frame_size: tuple[int, int] = (0, 0)
    capture_size: tuple[int, int] = (0, 0)
    elapsed_ms: float = 0.0

    @property
    def codes(self) -> list[str]:
        return [h.code for h in self.hints]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for the browser overlay (numbers rounded to 0.1)."""
        return {"face_found": self.face_found, "faces": self.faces, "ready": self.ready,
                "hints": [h.to_dict() for h in self.hints], "numbers": _round(self.numbers),
                "predicted": _round(self.predicted), "overlay": _round(self.overlay),
                "frame_size": list(self.frame_size), "capture_size": list(self.capture_size),
                "elapsed_ms": round(self.elapsed_ms, 1)}


def _round(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _round(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        return round(float(obj), 1)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


_H = {
    "no_face": ("未检测到人脸：请正对镜头", "no face: look at the camera"),
    "multiple_faces": ("画面中只能有一个人", "only one person may be in the frame"),
    "too_far": ("太远了：请靠近一点", "too far: come closer"),
    "too_close": ("太近了：请后退一点", "too close: step back"),
    "head_cut_top": ("头顶出画：请升高相机或坐低一点", "head cut off at the top: raise the camera or sit lower"),
    "no_room_top": ("头顶上方空间不足：请升高相机或坐低一点", "no room above the head: raise the camera or sit lower"),
    "no_room_bottom": ("肩部以下空间不足：请降低相机或后退一点", "no room below the shoulders: lower the camera or step back"),
    "off_centre_left": ("人物偏左：请向画面中间（右）移动", "too far left: move towards the middle (right)"),
    "off_centre_right": ("人物偏右：请向画面中间（左）移动", "too far right: move towards the middle (left)"),
    "head_proportions": ("头顶过高（帽子或发髻？）：请摘帽、放低发髻", "head top too high (hat or bun?): remove it"),
    "roll": ("头部倾斜 {v:.0f}°：请把头摆正", "head tilted {v:.0f}°: hold it straight"),
    "yaw": ("头部偏转约 {v:.0f}°：请正对镜头", "head turned about {v:.0f}°: face the camera"),
    "too_dark": ("光线太暗：请增加照明", "too dark: add light"),
    "too_bright": ("光线太亮或过曝：请减弱照明", "too bright or blown out: reduce the light"),
}


def _hint(code: str, severity: str = "block", value: float | None = None) -> GuideHint:
    zh, en = _H[code]
    v = {"v": abs(value) if value is not None else 0.0}
    return GuideHint(code, zh.format(**v), en.format(**v), severity, value)


def _bad(code: str, zh: str, en: str) -> CaptureError:
    return CaptureError(code, zh, en)


def _to_rgb(frame: Any) -> np.ndarray:
    """Any accepted preview input → ``(H, W, 3)`` uint8 RGB, or a coded :class:`CaptureError`."""
    from qc.context import DecodeError, decode  # noqa: PLC0415

    from ._pillow import strict_truncation  # noqa: PLC0415

    if isinstance(frame, Frame):
        if frame.rgb is not None:
            frame = frame.rgb
        else:
            frame = frame.data or b""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        strict_truncation()
        try:
            return decode(bytes(frame), max_side=1024)[1]
        except DecodeError as e:
            raise CaptureError("undecodable", e.message_zh, e.message_en, details={"decode_code": e.code}) from None
    if not isinstance(frame, np.ndarray):
        raise _bad("bad_frame", f"不支持的画面类型 {type(frame).__name__}", f"unsupported frame type {type(frame).__name__}")
    a = frame
    if a.dtype != np.uint8:
        raise _bad("bad_frame", f"画面类型 {a.dtype}（需要 uint8）", f"frame dtype {a.dtype} (need uint8)")
    if a.ndim == 2:
        a = np.dstack([a, a, a])
    if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < 16:
        raise _bad("bad_frame", f"画面形状 {a.shape} 无效", f"unusable frame shape {a.shape} (need H×W×3, ≥ 16 px)")
    return np.ascontiguousarray(a[:, :, :3])


class Guide:
    """Guidance for one preview stream (keeps a little state between frames).

    Parameters
    ----------
    template : Template, optional
    params : GuideParams, optional
    capture_size : (int, int), optional
        Default ``(width, height)`` of the captured frame (see :func:`guide`).

    Calling the object with a frame returns :class:`Hints`.  State: the detection tier
    that found the face last time (with nobody in front of the camera, one tier per
    frame in turn, so an empty preview stays as fluid as an occupied one and a
    newcomer is found within ``len(tiers)`` frames), and the person's hair-top/jaw-width ratio from the
    last person-mask measurement (re-measured every ``params.seg_every`` frames, or
    when the face moved or changed size by more than 20 %).
    """

    def __init__(self, template: Template | None = None, params: GuideParams | None = None,
                 capture_size: tuple[int, int] | None = None):
        self.template = template or Template()
        self.params = params or GuideParams()
        self.capture_size = capture_size
        self._tier = 0
        self._searching = False   # the previous frame had no face
        self._frame_no = 0
        self._crown: tuple[float, int, tuple[float, float, float]] | None = None  # ratio, frame no, (x, y, w)

    def __call__(self, frame: Any, capture_size: tuple[int, int] | None = None) -> Hints:
        return self._run(frame, capture_size or self.capture_size)

    def _detect(self, small: np.ndarray) -> tuple[PhotoContext, int]:
        tiers = list(self.params.tiers)
        if self._searching:
            order = [self._tier]                     # one tier per empty frame, in turn
        else:
            order = [self._tier] + [i for i in range(len(tiers)) if i != self._tier]
        ctx = None
        for i in order:
            side, up = tiers[i]
            ctx = PhotoContext(small, detection=DetectionParams(max_side=side, upsample=up))
            if ctx.faces:
                self._tier = i
                self._searching = False
                return ctx, i
        assert ctx is not None
        if self._searching:
            self._tier = (self._tier + 1) % len(tiers)
        self._searching = True
        return ctx, -1

    def _run(self, frame: Any, capture_size: tuple[int, int] | None) -> Hints:
        t0 = time.perf_counter()
        t = self.template
        p = self.params
        import cv2  # noqa: PLC0415

        self._frame_no += 1
        rgb = _to_rgb(frame)
        fh, fw = rgb.shape[:2]
        cap_w, cap_h = capture_size or (fw, fh)
        c = cap_w / float(fw)  # capture px per frame px
        g = min(1.0, p.detect_side / float(max(fh, fw)))  # small px per frame px
        small = rgb if g == 1.0 else cv2.resize(rgb, (max(1, round(fw * g)), max(1, round(fh * g))),
                                                 interpolation=cv2.INTER_AREA)
        gy = small.shape[0] / float(fh)
        g = small.shape[1] / float(fw)
        ctx, tier = self._detect(small)
        faces = ctx.faces
        out = Hints(face_found=False, faces=len(faces), ready=False, frame_size=(fw, fh), capture_size=(cap_w, cap_h))
        out.numbers["tier"] = tier
        if len(faces) != 1:
            out.hints.append(_hint("no_face" if not faces else "multiple_faces"))
            if faces:
                out.overlay["faces"] = [[(f.box.left + 0.5) / g - 0.5, (f.box.top + 0.5) / gy - 0.5,
                                         (f.box.right + 0.5) / g - 0.5, (f.box.bottom + 0.5) / gy - 0.5] for f in faces]
            self._crown = None
            out.elapsed_ms = (time.perf_counter() - t0) * 1000
            return out
        face = faces[0]
        out.face_found = True

        # small px → frame px → capture px (pixel centres)
        def small_to_frame(pts: np.ndarray) -> np.ndarray:
            pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
            return np.c_[(pts[:, 0] + 0.5) / g - 0.5, (pts[:, 1] + 0.5) / gy - 0.5]

        def frame_to_cap(pts: np.ndarray) -> np.ndarray:
            return (np.asarray(pts, dtype=np.float64).reshape(-1, 2) + 0.5) * c - 0.5

        def cap_to_frame(pts: np.ndarray) -> np.ndarray:
            return (np.asarray(pts, dtype=np.float64).reshape(-1, 2) + 0.5) / c - 0.5

        lm_frame = small_to_frame(face.landmarks)
        lm_cap = frame_to_cap(lm_frame)
        bx, by = face.box.centre
        here = (bx / g, by / gy, face.box.width / g)
        ratio = None
        if self._crown is not None:
            r, seen, (px, py, pw) = self._crown
            moved = math.hypot(here[0] - px, here[1] - py) > 0.2 * pw or abs(here[2] - pw) > 0.2 * pw
            if self._frame_no - seen < p.seg_every and not moved:
                ratio = r
        if ratio is None:
            seg = ctx.segmentation
            geom, _ = measure_face(lm_cap, mask=seg.person, mask_scale=g / c, mask_reliable=seg.reliable)
            self._crown = (geom.crown_ratio, self._frame_no, here)
        else:
            geom, _ = measure_face(lm_cap, crown_ratio=ratio)
        plan = plan_framing(geom, (cap_w, cap_h), t)
        yaw = estimate_yaw_deg(lm_cap)

        # light on the face (landmark bounding box, on the small copy)
        gray = ctx.gray
        x0, y0 = np.floor(face.landmarks.min(axis=0)).astype(int)
        x1, y1 = np.ceil(face.landmarks.max(axis=0)).astype(int)
        patch = gray[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]
        luma = float(patch.mean()) if patch.size else float(gray.mean())
        clipped = float((patch >= 250).mean()) if patch.size else 0.0

        hints: list[GuideHint] = []
        probs = plan.problems
        s_lo, s_hi = plan.scale_range
        too_far = "face_too_small" in probs
        too_close = not too_far and s_hi > 0 and (t.width / s_hi > cap_w or t.height / s_hi > cap_h)
        if too_far:
            hints.append(_hint("too_far", value=geom.eye_distance))
        if too_close:
            hints.append(_hint("too_close", value=geom.jaw_width))
        if "head_cut_top" in probs:
            hints.append(_hint("head_cut_top"))
        elif "no_room_top" in probs and not (too_close or too_far):
            hints.append(_hint("no_room_top", value=plan.violations.get("top")))
        if "head_proportions" in probs:
            hints.append(_hint("head_proportions"))
        if "no_room_bottom" in probs and not (too_close or too_far):
            hints.append(_hint("no_room_bottom", value=plan.violations.get("bottom")))
        mid_frame = cap_to_frame(geom.eye_mid[None, :])[0]
        off = (mid_frame[0] - fw / 2.0) / fw
        if "no_room_side" in probs and not (too_close or too_far):
            left = plan.violations.get("left", 0.0) >= plan.violations.get("right", 0.0)
            hints.append(_hint("off_centre_left" if left else "off_centre_right", value=off * 100))
        elif abs(off) > p.off_centre_share:
            hints.append(_hint("off_centre_left" if off < 0 else "off_centre_right", "warn", off * 100))
        if abs(geom.roll_deg) > t.max_roll_deg:
            hints.append(_hint("roll", "block", geom.roll_deg))
        elif abs(geom.roll_deg) > p.roll_warn_deg:
            hints.append(_hint("roll", "warn", geom.roll_deg))
        if abs(yaw) > p.yaw_warn_deg:
            hints.append(_hint("yaw", "warn", yaw))
        if luma < p.dark_luma:
            hints.append(_hint("too_dark", "warn", luma))
        elif luma > p.bright_luma or clipped > p.clipped_share:
            hints.append(_hint("too_bright", "warn", luma))
        out.hints = hints
        out.ready = plan.feasible and abs(geom.roll_deg) <= t.max_roll_deg and not any(h.severity == "block" for h in hints)

        out.numbers.update({"roll_deg": geom.roll_deg, "yaw_deg": yaw, "eye_distance_px": geom.eye_distance,
                            "face_width_px": geom.jaw_width, "face_luma": luma, "clipped_share": clipped,
                            "scale": plan.scale, "crown_source": geom.crown_source, "offset_share": off})
        out.predicted = dict(plan.geometry(), feasible=plan.feasible)

        # overlay in preview-frame coordinates
        def out_to_frame(pts) -> list:
            return cap_to_frame(plan.to_source(np.asarray(pts, dtype=np.float64))).tolist()

        a = math.radians(geom.roll_deg)
        up = np.array([math.sin(a), -math.cos(a)])  # leveled "up" in source coordinates
        crown_cap = geom.eye_mid + up * geom.crown_above_eyes
        el, er = lm_cap[36:42].mean(axis=0), lm_cap[42:48].mean(axis=0)
        box = small_to_frame(np.array([[face.box.left, face.box.top], [face.box.right, face.box.bottom]]))
        w1 = t.width - 1
        out.overlay = {
            "face_box": box.ravel().tolist(),
            "eyes": cap_to_frame(np.array([el, er])).tolist(),
            "crown": cap_to_frame(crown_cap[None, :])[0].tolist(),
            "chin": lm_frame[8].tolist(),
            "crop": out_to_frame(np.array([[0, 0], [w1, 0], [w1, t.height - 1], [0, t.height - 1]])),
            "crown_band": [out_to_frame([[0, y], [w1, y]]) for y in t.crown_band],
            "eye_band": [out_to_frame([[0, y], [w1, y]]) for y in t.eye_band],
            "centre_line": out_to_frame([[t.centre_x, 0], [t.centre_x, t.height - 1]]),
        }
        out.elapsed_ms = (time.perf_counter() - t0) * 1000
        return out


def guide(frame: Any, template: Template | None = None, *, capture_size: tuple[int, int] | None = None,
          params: GuideParams | None = None, tracker: Guide | None = None) -> Hints:
    """Guidance for one preview frame.

    Parameters
    ----------
    frame : numpy.ndarray | capture.Frame | bytes
        ``(H, W, 3)`` uint8 RGB preview frame (or a Frame / encoded bytes).
    template : Template, optional
    capture_size : (int, int), optional
        ``(width, height)`` of the frame that will actually be captured and normalised
        (e.g. ``(1280, 720)`` when the preview is 640×360 of the same camera); the face
        size is judged at that resolution.  Default: the preview's own size.
    params : GuideParams, optional
    tracker : Guide, optional
        Keep one per preview stream for speed (see :class:`Guide`); without it every
        call measures everything afresh.

    Returns
    -------
    Hints
        A picture without a face is a normal result (``face_found`` false, hint
        ``no_face``).

    Raises
    ------
    CaptureError
        ``undecodable`` for bytes that are not an image, ``bad_frame`` for an array of
        the wrong type or shape.
    """
    g = tracker if tracker is not None else Guide(template, params)
    return g(frame, capture_size)
