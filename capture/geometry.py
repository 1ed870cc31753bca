"""Face measurements and the framing plan shared by the normaliser and live guidance.

Coordinates
-----------
*Source* coordinates are pixel centres of the original image after EXIF orientation, at
full resolution (``x`` right, ``y`` down; the image spans ``[0, W-1] × [0, H-1]``).
The *leveled* frame is the source rotated about the eye midpoint ``c`` so that the eye
line is horizontal.  The output transform is::

    out = s · R · (p − c) + E            (p: source point, out: output pixel centre)

with ``R`` the levelling rotation, ``s`` the scale (output px per source px) and ``E``
the eye midpoint's position on the output canvas.  The inverse is
``p = c + Rᵀ (out − E) / s``.

The plan searches ``s`` and ``E`` on a grid (about 70 000 candidates, ~5 ms) for the
placement that keeps every hard limit of the :class:`~capture.template.Template`,
stays inside the picture (nothing is ever filled in) and is closest to the targets.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .template import Template

__all__ = ["FaceGeometry", "Plan", "measure_face", "plan_framing", "estimate_yaw_deg",
           "CROWN_FROM_JAW"]

#: Landmark estimate of the crown: ``eye line − CROWN_FROM_JAW × jaw width`` (leveled).
#: Measured on 24 real portraits here: (eye − hair top) / jaw width = 0.70–1.08,
#: median 0.92.  1.0 errs towards more room above the head.
CROWN_FROM_JAW = 1.0
#: Plausible range of (eye − crown) / jaw width for a crown read from the person mask.
CROWN_RATIO_PLAUSIBLE = (0.6, 1.6)


@dataclass(frozen=True)
class FaceGeometry:
    """One face measured in source pixels (full resolution, EXIF-oriented).

    Attributes
    ----------
    landmarks : numpy.ndarray
        ``(68, 2)`` float64 ``(x, y)`` source pixels.
    eye_mid : numpy.ndarray
        ``(2,)`` midpoint of the two eye centres (the rotation centre ``c``).
    roll_deg : float
        Eye-line angle; positive when the image-right eye is lower.
    eye_distance, jaw_width : float
        Source pixels (rotation invariant).
    crown_above_eyes : float
        Leveled distance from the eye line up to the top of the hair (px, > 0).
    chin_below_eyes : float
        Leveled distance from the eye line down to the chin (landmark 8).
    crown_source : str
        ``"mask"`` (person mask), ``"landmarks"`` (estimate, see :data:`CROWN_FROM_JAW`) or
        ``"tracked"`` (a ratio measured on an earlier frame).
    crown_touches_top : bool
        The head (person mask) reaches the first image row: the hair is cut off.
    """

    landmarks: np.ndarray
    eye_mid: np.ndarray
    roll_deg: float
    eye_distance: float
    jaw_width: float
    crown_above_eyes: float
    chin_below_eyes: float
    crown_source: str
    crown_touches_top: bool = False
    box: tuple[float, float, float, float] | None = None

    @property
    def rotation(self) -> np.ndarray:
        """``(2, 2)`` levelling rotation ``R`` (rotates by ``−roll``)."""
        a = math.radians(self.roll_deg)
        return np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])

    @property
    def crown_ratio(self) -> float:
        """``crown_above_eyes / jaw_width`` (0.7–1.1 for real heads)."""
        return self.crown_above_eyes / max(self.jaw_width, 1e-6)

    def leveled(self, pts: np.ndarray) -> np.ndarray:
        """Source points ``(N, 2)`` → leveled frame (same units, rotated about the eye midpoint)."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        return (pts - self.eye_mid) @ self.rotation.T + self.eye_mid


def estimate_yaw_deg(landmarks: np.ndarray) -> float:
    """Rough head yaw (degrees) from the nose tip's position between the jaw ends.

    ``r = (d₀ − d₁₆) / (d₀ + d₁₆)`` with ``d`` the horizontal distances from the nose tip
    (landmark 30) to jaw points 0 and 16; for a head turned by θ, ``r ≈ tan θ``.
    Positive when the nose points to the image's right.  Accuracy about ±30 % — good
    enough for "please face the camera", not a replacement for the QC ``head_pose`` check.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    d = lm[16] - lm[0]
    ang = math.atan2(d[1], d[0])
    ux = np.array([math.cos(ang), math.sin(ang)])
    n = float((lm[30] - lm[0]) @ ux)
    w = float(np.linalg.norm(d))
    if w <= 1e-6:
        return 0.0
    r = (n - (w - n)) / w
    return float(math.degrees(math.atan(max(-3.0, min(3.0, r)))))


def _mask_crown_leveled(mask: np.ndarray, mask_scale: float, eye_mid: np.ndarray, roll_deg: float,
                        half_span: float) -> tuple[float | None, bool]:
    """Top of the head from a person mask, as a leveled ``y`` in source pixels.

    ``mask`` is ``(h, w)`` bool in decoded pixels; ``mask_scale`` = decoded px per source px.
    Looks at the columns within ``half_span`` source px of the eye midpoint; returns the
    leveled ``y`` of the highest head point (robust: the 2nd-percentile column) and whether
    the head reaches the first image row.
    """
    h, w = mask.shape
    cx = eye_mid[0] * mask_scale
    x0, x1 = int(max(0, math.floor(cx - half_span * mask_scale))), int(min(w, math.ceil(cx + half_span * mask_scale)))
    eye_row = int(min(h, max(1, round(eye_mid[1] * mask_scale))))
    if x1 <= x0:
        return None, False
    sub = mask[:eye_row, x0:x1]
    has = sub.any(axis=0)
    if not has.any():
        return None, False
    tops = np.argmax(sub, axis=0).astype(np.float64)
    xs = (np.arange(x0, x1, dtype=np.float64))[has]
    tops = tops[has]
    need = max(2, int(0.02 * (x1 - x0)))
    touches = int((tops == 0).sum()) >= need
    # decoded → source pixel centres
    xs_src = (xs + 0.5) / mask_scale - 0.5
    ys_src = (tops + 0.5) / mask_scale - 0.5
    a = math.radians(roll_deg)
    ylev = -math.sin(a) * (xs_src - eye_mid[0]) + math.cos(a) * (ys_src - eye_mid[1]) + eye_mid[1]
    k = min(len(ylev) - 1, need - 1)
    top = float(np.partition(ylev, k)[k])
    return top, touches


def measure_face(landmarks: np.ndarray, *, mask: np.ndarray | None = None, mask_scale: float = 1.0,
                 mask_reliable: bool = True, box: tuple[float, float, float, float] | None = None,
                 crown_ratio: float | None = None) -> tuple[FaceGeometry, list[str]]:
    """Measure a face for framing.

    Parameters
    ----------
    landmarks : numpy.ndarray
        ``(68, 2)`` source pixels.
    mask : numpy.ndarray, optional
        ``(h, w)`` bool person mask in decoded pixels (``h ≈ H · mask_scale``).
    mask_scale : float
        Decoded pixels per source pixel (the JPEG draft factor, 1.0 when not drafted).
    mask_reliable : bool
        The segmentation found a plain backdrop; when false, the crown is taken from the
        landmarks unless the mask agrees with them.
    box : tuple, optional
        Detector box ``(left, top, right, bottom)`` in source pixels (kept for reports).
    crown_ratio : float, optional
        A known ``crown_above_eyes / jaw_width`` for this person (live guidance measures
        it every few frames); used instead of the mask (``crown_source="tracked"``).

    Returns
    -------
    (FaceGeometry, warnings)
        ``warnings`` holds codes such as ``crown_estimated``.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    el, er = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    mid = (el + er) / 2.0
    d = er - el
    roll = math.degrees(math.atan2(d[1], d[0]))
    ed = float(np.linalg.norm(d))
    jaw = float(np.linalg.norm(lm[16] - lm[0]))
    a = math.radians(roll)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    chin_lev = (lm[8] - mid) @ rot.T
    chin_below = float(chin_lev[1])
    warnings: list[str] = []

    estimate = CROWN_FROM_JAW * jaw
    crown_above = estimate
    source = "landmarks"
    touches = False
    if crown_ratio is not None:
        crown_above = float(crown_ratio) * jaw
        touches = mid[1] - crown_above <= 0.5
        return (FaceGeometry(landmarks=lm, eye_mid=mid, roll_deg=roll, eye_distance=ed, jaw_width=jaw,
                             crown_above_eyes=crown_above, chin_below_eyes=chin_below, crown_source="tracked",
                             crown_touches_top=touches, box=box), warnings)
    if mask is not None and mask.any():
        top_lev, touches = _mask_crown_leveled(mask, mask_scale, mid, roll, half_span=0.8 * max(jaw, ed * 2.2))
        if top_lev is not None:
            above = float(mid[1] - top_lev)
            ratio = above / max(jaw, 1e-6)
            plausible = CROWN_RATIO_PLAUSIBLE[0] <= ratio <= CROWN_RATIO_PLAUSIBLE[1]
            agrees = abs(above - estimate) <= 0.3 * jaw
            # On a busy backdrop, clutter joined to the mask can reach the top row; only
            # believe it when even a tall head (1.15 jaw widths above the eyes) could.
            could_reach = mid[1] - 1.15 * jaw <= 0
            if touches and (mask_reliable or (plausible and could_reach)):
                crown_above, source = above, "mask"
            elif plausible and (mask_reliable or agrees):
                crown_above, source = above, "mask"
            else:
                touches = False
    if source == "landmarks":
        warnings.append("crown_estimated")
        # Without a mask, a head whose estimated top lies above the frame is cut off.
        if mid[1] - CROWN_FROM_JAW * 0.85 * jaw < 0:
            touches = True
    geom = FaceGeometry(landmarks=lm, eye_mid=mid, roll_deg=roll, eye_distance=ed, jaw_width=jaw,
                        crown_above_eyes=crown_above, chin_below_eyes=chin_below, crown_source=source,
                        crown_touches_top=touches, box=box)
    return geom, warnings


@dataclass
class Plan:
    """Where the face lands: the output transform and the predicted geometry.

    ``matrix`` maps source pixel centres to output pixel centres (``(2, 3)``);
    ``violations`` gives, in source pixels, how far the output rectangle would reach
    outside the picture (``top``, ``bottom``, ``left``, ``right``; all 0 when ``feasible``).
    ``problems`` are refusal codes in priority order (empty when feasible).
    """

    scale: float
    eye_out: tuple[float, float]
    rotation_deg: float
    matrix: np.ndarray
    feasible: bool
    crown_y: float
    eye_y: float
    chin_y: float
    face_width: float
    eye_distance: float
    centre_x: float
    violations: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    scale_range: tuple[float, float] = (0.0, 0.0)

    def corners_source(self, template: Template) -> np.ndarray:
        """``(4, 2)`` source points of the output corners TL, TR, BR, BL (pixel centres)."""
        inv = np.linalg.inv(np.vstack([self.matrix, [0.0, 0.0, 1.0]]))[:2]
        w, h = template.width - 1, template.height - 1
        out = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
        return out @ inv[:, :2].T + inv[:, 2]

    def to_output(self, pts: np.ndarray) -> np.ndarray:
        """Source points ``(N, 2)`` → output pixels."""
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        return pts @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_source(self, pts: np.ndarray) -> np.ndarray:
        """Output points ``(N, 2)`` → source pixels."""
        inv = np.linalg.inv(np.vstack([self.matrix, [0.0, 0.0, 1.0]]))[:2]
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        return pts @ inv[:, :2].T + inv[:, 2]

    def geometry(self) -> dict[str, Any]:
        """Predicted output geometry (px): crown, eye line, chin, face width, eye distance, centre."""
        return {"crown_y": round(self.crown_y, 1), "eye_y": round(self.eye_y, 1),
                "chin_y": round(self.chin_y, 1), "face_width": round(self.face_width, 1),
                "eye_distance": round(self.eye_distance, 1), "centre_x": round(self.centre_x, 1),
                "roll_deg": 0.0}


def _dist_outside(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.maximum(lo - v, 0.0) + np.maximum(v - hi, 0.0)


def _matrix(geom: FaceGeometry, s: float, ex: float, ey: float) -> np.ndarray:
    a = s * geom.rotation
    b = np.array([ex, ey]) - a @ geom.eye_mid
    return np.hstack([a, b[:, None]])


def plan_framing(geom: FaceGeometry, source_size: tuple[int, int], template: Template = Template(),
                 *, s_steps: int = 41) -> Plan:
    """Choose scale and placement for ``geom`` in a source of ``source_size = (W, H)`` pixels.

    Hard constraints (never broken by a feasible plan), with ``m = safety_margin``:
    crown row in ``limit_crown ± m``, eye row in ``limit_eye ± m``, eye-midpoint column in
    ``limit_centre ± m``, chin row ≤ ``chin_max − m``, face width in
    ``limit_face_width ± m``, eye distance ≥ ``min_eye_distance + 1``,
    ``s ≤ max_upscale`` and the whole output rectangle inside the source picture.

    Among the candidates that keep them, the plan minimises (squared pixel distances):
    face width outside ``face_width_band`` (weight 40: a QC pass matters most), crown/eye
    rows outside ``crown_band``/``eye_band`` (10), face width from ``face_width_target`` (0.02),
    rows from the band centres (0.01), eye-midpoint column from ``centre_x`` (0.05) and
    enlargement above 1 (0.1 per percent²).

    When no candidate keeps them, the returned plan is the "least bad" candidate and
    ``problems`` names why, in priority order: ``face_too_small``, ``head_cut_top``,
    ``head_proportions``, ``no_room_top``, ``no_room_bottom``, ``no_room_side``.
    """
    W, H = source_size
    t = template
    m = t.safety_margin
    jaw, ed = geom.jaw_width, geom.eye_distance
    dc, dchin = geom.crown_above_eyes, geom.chin_below_eyes
    problems: list[str] = []

    fw_lo, fw_hi = t.limit_face_width[0] + m, t.limit_face_width[1] - m
    s_lo = max((t.min_eye_distance + 1.0) / max(ed, 1e-6), fw_lo / max(jaw, 1e-6))
    s_hi = min(t.max_upscale, fw_hi / max(jaw, 1e-6))
    if s_lo > s_hi:
        if s_lo > t.max_upscale:
            problems.append("face_too_small")
        s_vals = np.array([min(s_lo, max(s_hi, 1e-6))]) if s_lo > t.max_upscale else np.array([s_hi])
    else:
        s_vals = np.linspace(s_lo, s_hi, s_steps) if s_hi > s_lo else np.array([s_lo])
    if geom.crown_touches_top:
        problems.append("head_cut_top")

    eye_lo, eye_hi = t.hard("eye")
    crown_lo, crown_hi = t.hard("crown")
    cen_lo, cen_hi = t.hard("centre")
    ey_vals = np.arange(math.ceil(eye_lo), math.floor(eye_hi) + 1e-9, 1.0)
    ex_vals = np.arange(math.ceil(cen_lo), math.floor(cen_hi) + 1e-9, 2.0)
    if abs(t.centre_x - ex_vals).min() > 1e-9 and cen_lo <= t.centre_x <= cen_hi:
        ex_vals = np.sort(np.append(ex_vals, t.centre_x))

    S = s_vals[:, None, None]
    EY = ey_vals[None, :, None]
    EX = ex_vals[None, None, :]
    crown = EY - S * dc
    chin = EY + S * dchin
    fw = S * jaw
    band_ok = (crown >= crown_lo) & (crown <= crown_hi) & (chin <= t.chin_max - m)

    cost = (10.0 * (_dist_outside(EY, *t.eye_band) ** 2 + _dist_outside(crown, *t.crown_band) ** 2)
            + 40.0 * _dist_outside(fw, *t.face_width_band) ** 2
            + 0.02 * (fw - t.face_width_target) ** 2
            + 0.01 * ((EY - sum(t.eye_band) / 2) ** 2 + (crown - sum(t.crown_band) / 2) ** 2)
            + 0.05 * (EX - t.centre_x) ** 2
            + 0.1 * (np.maximum(S - 1.0, 0.0) * 100.0) ** 2)

    # Output corners → source: p = c + Rᵀ (o − E) / s.
    a = math.radians(geom.roll_deg)
    ca, sa = math.cos(a), math.sin(a)
    cx, cy = float(geom.eye_mid[0]), float(geom.eye_mid[1])
    ow, oh = t.width - 1.0, t.height - 1.0
    viol = {k: np.zeros(np.broadcast(S, EY, EX).shape) for k in ("top", "bottom", "left", "right")}
    for ox, oy in ((0.0, 0.0), (ow, 0.0), (0.0, oh), (ow, oh)):
        dx, dy = ox - EX, oy - EY
        px = cx + (ca * dx - sa * dy) / S
        py = cy + (sa * dx + ca * dy) / S
        viol["top"] = np.maximum(viol["top"], -py)
        viol["bottom"] = np.maximum(viol["bottom"], py - (H - 1))
        viol["left"] = np.maximum(viol["left"], -px)
        viol["right"] = np.maximum(viol["right"], px - (W - 1))
    total = sum(np.maximum(v, 0.0) for v in viol.values())
    room_ok = total <= 1e-6

    feasible_mask = band_ok & room_ok
    if feasible_mask.any() and not problems:
        c = np.where(feasible_mask, cost, np.inf)
        idx = np.unravel_index(int(np.argmin(c)), c.shape)
        feasible = True
    else:
        feasible = False
        if not band_ok.any():
            if "head_cut_top" not in problems:
                problems.append("head_proportions")
            # least-bad: ignore the band rule, minimise room violation then cost
            pool = np.ones_like(total, dtype=bool)
        else:
            pool = band_ok
        key = np.where(pool, total * 1e6 + cost, np.inf)
        idx = np.unravel_index(int(np.argmin(key)), key.shape)
        v = {k: float(max(0.0, viol[k][idx])) for k in viol}
        if v["top"] > 0 and "head_cut_top" not in problems:
            problems.append("no_room_top")
        if v["bottom"] > 0:
            problems.append("no_room_bottom")
        if v["left"] > 0 or v["right"] > 0:
            problems.append("no_room_side")
        if not problems:  # pragma: no cover - defensive
            problems.append("no_room_top")
    si, yi, xi = idx
    s = float(s_vals[si])
    ey = float(ey_vals[yi])
    ex = float(ex_vals[xi])
    violations = {k: round(float(max(0.0, viol[k][idx])), 2) for k in viol}
    warnings: list[str] = []
    fw_out = s * jaw
    if feasible:
        if not (t.face_width_band[0] <= fw_out <= t.face_width_band[1]):
            warnings.append("face_width_outside_pass_band")
        if s > 1.0 + 1e-9:
            warnings.append("upscaled")
    return Plan(scale=s, eye_out=(ex, ey), rotation_deg=-geom.roll_deg, matrix=_matrix(geom, s, ex, ey),
                feasible=feasible, crown_y=ey - s * dc, eye_y=ey, chin_y=ey + s * dchin,
                face_width=fw_out, eye_distance=s * ed, centre_x=ex, violations=violations,
                problems=problems, warnings=warnings, scale_range=(float(s_lo), float(s_hi)))
