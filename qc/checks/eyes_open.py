"""``eyes_open``: both eyes open, each judged on its own.

Rule (spec §4).  Measured: the eye aspect ratio (Soukupová & Čech 2016),
EAR = (|p2−p6| + |p3−p5|) / (2 |p1−p4|), of each eye, and the smaller of the two is
graded: ≥ ``pass_min`` pass, ≥ ``warn_min`` warn, below fail.

Each eye on its own: dlib's 68-point model fits both eyes together and pulls a shut
eye open when the other is open (a wink made from a real closed-eye shot read EAR
0.25/0.26 on the joint fit and passed).  So each eye's EAR is taken from a fit on a
mirror-symmetric face built from that eye's half of the levelled face crop (the half
reflected about the eye midpoint): both eyes of that face are the same eye, and the fit
has nothing to pull it towards.  The joint fit's smaller EAR is graded too (it is what
both-eyes-closed was calibrated on); the status is the worse of the two.

``measured``: ``min`` (the smaller per-eye EAR), ``eye`` (which eye that is, from the
*subject's* side: ``left``/``right``; the subject's left eye is on the image's right),
``left``/``right`` (per-eye EAR, subject's sides), ``joint`` (the joint fit's smaller EAR).
Messages name the eye from the subject's side (左眼 = the student's own left eye,
on the right of the photo) and say where it is in the photo.

Profile keys: ``pass_min``, ``warn_min`` (joint-fit EAR), ``eye_pass_min``,
``eye_warn_min`` (per-eye EAR).  Calibrated on the corpus and on winks composited from
same-session Yale shots (``tools/calibration/out/eyes_cases.csv``).
Known limits: narrow eyes and squinting smiles read low; glasses frames can pull the
landmarks; a subject whose shut lids the landmark model places apart (Yale subject 01:
both eyes shut read 0.17–0.19) is only warned, and their wink is missed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import PASS, WARN, FAIL, CROP_EYE_MID, check_order, face_crop, grade_low, r1, result

NAME = "eyes_open"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Minimum EAR (dimensionless) for pass and warn: joint fit and per eye."""

    pass_min: float
    warn_min: float
    eye_pass_min: float
    eye_warn_min: float

    def __post_init__(self):
        check_order("warn_min", self.warn_min, "pass_min", self.pass_min)
        check_order("eye_warn_min", self.eye_warn_min, "eye_pass_min", self.eye_pass_min)


def ear(eye: np.ndarray) -> float:
    """Eye aspect ratio of six ``(x, y)`` eye landmarks ``(6, 2)``."""
    v = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    h = 2.0 * np.linalg.norm(eye[0] - eye[3])
    return float(v / h) if h > 0 else 0.0


def per_eye(ctx) -> tuple[float, float]:
    """``(image-left eye EAR, image-right eye EAR)``, each from its own mirror-symmetric face.

    Memoised on the context.  Two landmark fits on the 240×260 levelled crop (~1 ms each).
    """
    return ctx.memo("eyes_per_eye", lambda: _mirror_fits(face_crop(ctx)))


def _mirror_fits(fc) -> tuple[float, float]:
    from .. import faces as _faces  # noqa: PLC0415

    img, lm = fc.rgb, fc.landmarks
    cut = int(round(CROP_EYE_MID[0]))
    # The crop is 2·CROP_EYE_MID[0] wide, so a flip mirrors it about the eye midpoint.
    if img.shape[1] != 2 * cut:
        raise ValueError("face crop must be centred on the eye midpoint")
    # A box symmetric about the eye midpoint, around the landmarks (brows to chin).
    half = float(max(CROP_EYE_MID[0] - lm[:, 0].min(), lm[:, 0].max() - CROP_EYE_MID[0]))
    box = _faces.Box(int(round(CROP_EYE_MID[0] - half)), int(round(float(lm[17:27, 1].min()))),
                     int(round(CROP_EYE_MID[0] + half)), int(round(lm[8, 1])))
    left, right = img[:, :cut], img[:, cut:]
    res = []
    for sym in (np.concatenate([left, left[:, ::-1]], axis=1), np.concatenate([right[:, ::-1], right], axis=1)):
        pts = _faces.landmarks_for(sym, box)
        res.append((ear(pts[36:42]) + ear(pts[42:48])) / 2.0)
    return res[0], res[1]


_SIDE_ZH = {"left": "左眼", "right": "右眼"}
_WHERE_ZH = {"left": "照片右侧", "right": "照片左侧"}


def check(ctx, t: Thresholds):
    lm = ctx.face.landmarks
    joint = min(ear(lm[36:42]), ear(lm[42:48]))
    img_l, img_r = per_eye(ctx)
    # Subject's sides: the eye on the image's left is the subject's right eye.
    subj = {"right": img_l, "left": img_r}
    eye = min(subj, key=subj.get)
    m = subj[eye]
    measured = {"min": r1(m, 3), "eye": eye, "left": r1(subj["left"], 3), "right": r1(subj["right"], 3),
                "joint": r1(joint, 3)}
    expected = f"每只眼睛 ≥ {t.eye_pass_min:g}，双眼整体 ≥ {t.pass_min:g}"
    st_eye = grade_low(m, t.eye_pass_min, t.eye_warn_min)
    st_joint = grade_low(joint, t.pass_min, t.warn_min)
    order = {PASS: 0, WARN: 1, FAIL: 2}
    st = st_eye if order[st_eye] >= order[st_joint] else st_joint
    if st is PASS:
        return result(NAME, PASS, measured=measured, expected=expected, unit="EAR")
    pts = lm[36:48]
    region = (pts[:, 0].min() - 15, pts[:, 1].min() - 15, pts[:, 0].max() + 15, pts[:, 1].max() + 15)
    other = subj["right" if eye == "left" else "left"]
    if st_eye is PASS:
        # Only the joint fit is low: the eyes read open one by one but narrow together.
        e_l, e_r = ear(lm[36:42]), ear(lm[42:48])
        both = max(e_l, e_r) < t.pass_min
        zh_which, en_which = ("双眼", "both eyes") if both else ("一只眼睛", "an eye")
        value, need = joint, t.pass_min
    elif other < t.eye_pass_min:
        zh_which, en_which = "双眼", "both eyes"
        value, need = m, t.eye_pass_min
    else:
        zh_which = f"{_SIDE_ZH[eye]}（学生本人的{'左' if eye == 'left' else '右'}眼，位于{_WHERE_ZH[eye]}）"
        en_which = f"the student's {eye} eye (on the photo's {'right' if eye == 'left' else 'left'})"
        value, need = m, t.eye_pass_min
        pts = lm[42:48] if eye == "left" else lm[36:42]     # highlight that eye only
        region = (pts[:, 0].min() - 15, pts[:, 1].min() - 15, pts[:, 0].max() + 15, pts[:, 1].max() + 15)
    return result(NAME, st, measured=measured, expected=expected, reason="closed", unit="EAR", region=region,
                  zh=f"{zh_which}闭合或眯眼（睁眼度 {value:.2f}，要求 ≥ {need:g}）：请让学生自然睁大双眼、平视镜头后重拍",
                  en=f"{en_which} closed or squinting (openness {value:.2f}, ≥ {need:g} required): both eyes open, look into the lens, retake")
