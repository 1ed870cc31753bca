"""``eyes_open``: both eyes open.

Rule (spec §4).  Measured: the eye aspect ratio (Soukupová & Čech 2016) of each eye,
EAR = (|p2−p6| + |p3−p5|) / (2 |p1−p4|) on landmarks 36–41 and 42–47; the smaller of
the two is reported.  ≥ 0.20 pass, 0.15–0.20 warn, below fail (calibrated).

Profile keys: ``pass_min``, ``warn_min`` (EAR).
Known limits: narrow eyes and squinting smiles read low; glasses frames can pull the
landmarks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import PASS, check_order, grade_low, r1, result

NAME = "eyes_open"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Minimum EAR (dimensionless) for pass and warn."""

    pass_min: float
    warn_min: float

    def __post_init__(self):
        check_order("warn_min", self.warn_min, "pass_min", self.pass_min)


def ear(eye: np.ndarray) -> float:
    """Eye aspect ratio of six ``(x, y)`` eye landmarks ``(6, 2)``."""
    v = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    h = 2.0 * np.linalg.norm(eye[0] - eye[3])
    return float(v / h) if h > 0 else 0.0


def check(ctx, t: Thresholds):
    lm = ctx.face.landmarks
    e_l, e_r = ear(lm[36:42]), ear(lm[42:48])
    m = min(e_l, e_r)
    expected = f"≥ {t.pass_min:g}"
    st = grade_low(m, t.pass_min, t.warn_min)
    if st is PASS:
        return result(NAME, PASS, measured=r1(m, 3), expected=expected, unit="EAR")
    pts = lm[36:48]
    region = (pts[:, 0].min() - 15, pts[:, 1].min() - 15, pts[:, 0].max() + 15, pts[:, 1].max() + 15)
    which_zh = "双眼" if max(e_l, e_r) < t.pass_min else "一只眼睛"
    return result(NAME, st, measured=r1(m, 3), expected=expected, reason="closed", unit="EAR", region=region,
                  zh=f"{which_zh}闭合或眯眼（睁眼度 {m:.2f}，要求 ≥ {t.pass_min:g}）：请让学生自然睁大眼睛、平视镜头后重拍",
                  en=f"{'both eyes' if which_zh == '双眼' else 'an eye'} closed or squinting (EAR {m:.2f}, ≥ {t.pass_min:g} required): eyes open, look into the lens, retake")
