"""``head_pose``: the head faces the camera (yaw and pitch within limits).

Rule (spec §3, ISO/IEC 19794-5): yaw and pitch ≤ 5° pass, 5–8° warn, beyond fail.

Method: a perspective-n-point fit (OpenCV ``solvePnP``, iterative) of six landmarks —
nose tip 30, chin 8, outer eye corners 36/45, mouth corners 48/54 — to a generic 3-D
face (the widely used six-point mean-face model, mm, nose tip at the origin, +y up,
+z towards the viewer), with a pin-hole camera of focal length equal to the image
width and the principal point at the image centre.  The face normal ``R·(0,0,1)`` in
camera coordinates gives yaw = atan2(nₓ, −n_z) and pitch = atan2(n_y, −n_z); positive
yaw = face turned towards the image's right, positive pitch = chin down.

Calibration: a generic model does not share every face's proportions, which mainly
biases pitch; ``pitch_offset_deg`` / ``yaw_offset_deg`` are subtracted and were set to
the median over the frontal faces of the shared corpus (``qc/calibration/``).  On
synthetic landmarks (the model itself rotated and projected) the fit recovers the
angles to within 0.1°.

Profile keys: ``pass_max``, ``warn_max`` (degrees, applied to max(|yaw|, |pitch|)),
``yaw_offset_deg``, ``pitch_offset_deg``.
Known limits: accuracy on real faces ±3–4° (landmark noise, face shape); large poses
(> 40°) are beyond the landmark model anyway.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import PASS, check_order, grade_high, r1, result

NAME = "head_pose"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")

#: Landmark indices and the generic 3-D model (mm) they are fitted to.
POSE_LANDMARKS = (30, 8, 36, 45, 48, 54)
MODEL_3D = np.array([
    (0.0, 0.0, 0.0),          # nose tip
    (0.0, -330.0, -65.0),     # chin
    (-225.0, 170.0, -135.0),  # outer corner of the eye on the image's left
    (225.0, 170.0, -135.0),   # outer corner of the eye on the image's right
    (-150.0, -150.0, -125.0),  # mouth corner, image left
    (150.0, -150.0, -125.0),   # mouth corner, image right
], dtype=np.float64)


@dataclass(frozen=True)
class Thresholds:
    """Degrees: limits on max(|yaw|, |pitch|) after subtracting the calibrated offsets."""

    pass_max: float
    warn_max: float
    yaw_offset_deg: float
    pitch_offset_deg: float

    def __post_init__(self):
        check_order("pass_max", self.pass_max, "warn_max", self.warn_max)


def estimate_pose(landmarks: np.ndarray, width: int, height: int) -> tuple[float, float]:
    """Raw ``(yaw, pitch)`` in degrees from ``(68, 2)`` landmarks in an image of ``width``×``height`` px."""
    import cv2  # noqa: PLC0415

    img_pts = np.asarray(landmarks, dtype=np.float64)[list(POSE_LANDMARKS)]
    # Model +y is up, image +y is down: flip the model's y so a frontal face is R ≈ I.
    obj = MODEL_3D * np.array([1.0, -1.0, -1.0])
    f = float(width)
    cam = np.array([[f, 0, width / 2.0], [0, f, height / 2.0], [0, 0, 1]], dtype=np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img_pts, cam, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise ValueError("pose fit failed")
    rot, _ = cv2.Rodrigues(rvec)
    # Face normal: towards the viewer is -z in the flipped model frame.
    n = rot @ np.array([0.0, 0.0, -1.0])
    yaw = float(np.degrees(np.arctan2(n[0], -n[2])))
    pitch = float(np.degrees(np.arctan2(n[1], -n[2])))
    return yaw, pitch


def project_model(yaw: float, pitch: float, width: int = 480, height: int = 640,
                  distance: float = 2500.0) -> np.ndarray:
    """Synthetic ``(68, 2)`` landmarks (only the six pose points filled) of the model turned by
    ``yaw``/``pitch`` degrees — for tests of :func:`estimate_pose`."""
    obj = MODEL_3D * np.array([1.0, -1.0, -1.0])
    a, b = np.radians(yaw), -np.radians(pitch)  # positive pitch = chin down
    ry = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), np.sin(b)], [0, -np.sin(b), np.cos(b)]])
    pts = obj @ (ry @ rx).T + np.array([0, 0, distance])
    f = float(width)
    uv = pts[:, :2] / pts[:, 2:3] * f + np.array([width / 2.0, height / 2.0])
    lm = np.zeros((68, 2))
    lm[list(POSE_LANDMARKS)] = uv
    return lm


def check(ctx, t: Thresholds):
    f = ctx.face
    yaw_raw, pitch_raw = ctx.memo("head_pose", lambda: estimate_pose(f.landmarks, ctx.width, ctx.height))
    yaw, pitch = yaw_raw - t.yaw_offset_deg, pitch_raw - t.pitch_offset_deg
    worst = max(abs(yaw), abs(pitch))
    expected = f"偏转/俯仰 ≤ {t.pass_max:g}°"
    measured = {"yaw": r1(yaw), "pitch": r1(pitch)}
    st = grade_high(worst, t.pass_max, t.warn_max)
    if st is PASS:
        return result(NAME, PASS, measured=measured, expected=expected, unit="deg")
    b = f.box.clipped(ctx.width, ctx.height)
    region = (b.left, b.top, b.right, b.bottom)
    if abs(yaw) >= abs(pitch):
        # Positive yaw: face turned towards the image's right = the student's left.
        side_zh = "左" if yaw > 0 else "右"
        side_en = "left" if yaw > 0 else "right"
        return result(NAME, st, measured=measured, expected=expected, reason="yaw", unit="deg", region=region,
                      zh=f"头部向学生{side_zh}侧转了约 {abs(yaw):.0f}°，要求 ≤ {t.pass_max:g}°：请让学生正对镜头，鼻尖对准镜头",
                      en=f"head turned about {abs(yaw):.0f}° to the student's {side_en}, at most {t.pass_max:g}° required: have the student face the lens squarely")
    if pitch > 0:
        return result(NAME, st, measured=measured, expected=expected, reason="pitch_down", unit="deg", region=region,
                      zh=f"低头约 {abs(pitch):.0f}°，要求 ≤ {t.pass_max:g}°：请让学生稍微抬头、平视镜头（相机与眼睛同高）",
                      en=f"head tilted down about {abs(pitch):.0f}°, at most {t.pass_max:g}° required: chin up a little, eyes level with the lens")
    return result(NAME, st, measured=measured, expected=expected, reason="pitch_up", unit="deg", region=region,
                  zh=f"抬头约 {abs(pitch):.0f}°，要求 ≤ {t.pass_max:g}°：请让学生稍微收下巴、平视镜头（相机与眼睛同高）",
                  en=f"head tilted up about {abs(pitch):.0f}°, at most {t.pass_max:g}° required: chin down a little, eyes level with the lens")
