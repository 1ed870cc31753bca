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

The mirror fits start from :data:`MIRROR_BOX`, where dlib's detector box sits on a
levelled face (the median over the corpus, in crop pixels): the model was trained from
detector boxes, and a box hugging the landmarks (brows to chin, as first written) made
16 of 62 corpus fits lock onto a glasses rim or a brow (gates_portrait's open eyes read
0.08 and failed).  A mirror fit whose eye lands more than ``eye_fit_max_shift`` crop px
(% of the eye distance) from where the joint fit put that eye is fitting something else:
that eye is then judged by the joint fit alone, and ``measured`` says so.  Winks shift
≤ 4.3 px; with this box one of 62 corpus fits shifts more (a face looking down, 12.4 px;
next a partial face, 9.5 px).

``measured``: ``min`` (the smaller EAR of the eyes judged by their own fit), ``eye`` (which eye that is, from the
*subject's* side: ``left``/``right``; the subject's left eye is on the image's right),
``left``/``right`` (per-eye EAR, subject's sides; the joint fit's value for an eye whose
own fit was discarded), ``joint`` (the joint fit's smaller EAR), ``own_fit`` (the eyes
judged by their own fit: ``both``, ``left``, ``right`` or ``none``).
Messages name the eye from the subject's side (左眼 = the student's own left eye,
on the right of the photo) and say where it is in the photo.

Profile keys: ``pass_min``, ``warn_min`` (joint-fit EAR), ``eye_pass_min``,
``eye_warn_min`` (per-eye EAR), ``eye_fit_max_shift`` (crop px).  Calibrated on the
corpus and on winks composited from same-session Yale shots
(``tools/calibration/out/eyes_cases.csv``).
Known limits: narrow eyes and squinting smiles read low; glasses frames can pull the
landmarks; a subject whose shut lids the landmark model places apart (Yale subject 01:
both eyes shut read 0.17–0.19) is only warned, and their wink is missed; a wink whose
own fit is discarded is judged by the joint fit only.
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
    eye_fit_max_shift: float

    def __post_init__(self):
        check_order("warn_min", self.warn_min, "pass_min", self.pass_min)
        check_order("eye_warn_min", self.eye_warn_min, "eye_pass_min", self.eye_pass_min)
        if not self.eye_fit_max_shift > 0:
            raise ValueError("eye_fit_max_shift: must be > 0")


#: Start box of the mirror fits in the levelled crop (left, top, right, bottom; crop px,
#: eye distance 100, eye midpoint at (120, 90)): the median of dlib's detector box over
#: the 57 one-face corpus photos mapped into the crop, (-6.3, 13.1, 245.2, 265.4),
#: made symmetric about the eye midpoint.  It reaches past the crop's edges, as the
#: detector's box does; the model reads pixels outside the image as black.
MIRROR_BOX = (-6, 13, 246, 265)


def ear(eye: np.ndarray) -> float:
    """Eye aspect ratio of six ``(x, y)`` eye landmarks ``(6, 2)``."""
    v = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    h = 2.0 * np.linalg.norm(eye[0] - eye[3])
    return float(v / h) if h > 0 else 0.0


@dataclass(frozen=True)
class PerEye:
    """Per-eye EARs from the mirror fits, image sides, and how far each fit's eye
    landed from the joint fit's (crop px)."""

    img_left: float
    img_right: float
    shift_left: float
    shift_right: float


def per_eye(ctx) -> PerEye:
    """Each eye's EAR from its own mirror-symmetric face (image sides).

    Memoised on the context.  Two landmark fits on the 240×260 levelled crop
    (~1 ms each through qc.shapefit, ~2.5 ms with dlib's predictor: the model's trees,
    not the pixels, are the cost).
    """
    return ctx.memo("eyes_per_eye", lambda: _mirror_fits(face_crop(ctx)))


def _mirror_fits(fc, predictor=None) -> PerEye:
    """``predictor``: a ``dlib.shape_predictor`` for the two fits (default: the full model)."""
    import cv2  # noqa: PLC0415

    from .. import faces as _faces  # noqa: PLC0415

    img, lm = fc.rgb, fc.landmarks
    cut = int(round(CROP_EYE_MID[0]))
    # The crop is 2·CROP_EYE_MID[0] wide, so a flip mirrors it about the eye midpoint.
    if img.shape[1] != 2 * cut:
        raise ValueError("face crop must be centred on the eye midpoint")
    box = _faces.Box(*MIRROR_BOX)
    # The flipped crop's halves are the crop's halves mirrored: each mirror face is a copy
    # of one of the two with the other half pasted in (0.04 ms; concatenating reversed
    # views cost ten times as much).
    flipped = cv2.flip(img, 1)
    sym_left, sym_right = img.copy(), flipped.copy()
    sym_left[:, cut:] = flipped[:, cut:]
    sym_right[:, cut:] = img[:, cut:]
    ears, shifts = [], []
    for sym, own in ((sym_left, slice(36, 42)), (sym_right, slice(42, 48))):
        pts = _faces.landmarks_for(sym, box, predictor)
        ears.append((ear(pts[36:42]) + ear(pts[42:48])) / 2.0)
        shifts.append(float(np.linalg.norm(pts[own].mean(axis=0) - lm[own].mean(axis=0))))
    return PerEye(ears[0], ears[1], shifts[0], shifts[1])


_SIDE_ZH = {"left": "左眼", "right": "右眼"}
_WHERE_ZH = {"left": "照片右侧", "right": "照片左侧"}


def check(ctx, t: Thresholds):
    lm = ctx.face.landmarks
    j_img_l, j_img_r = ear(lm[36:42]), ear(lm[42:48])
    joint = min(j_img_l, j_img_r)
    pe = per_eye(ctx)
    # Subject's sides: the eye on the image's left is the subject's right eye.  An eye
    # whose own fit landed elsewhere keeps the joint fit's value and is graded on it.
    own = {"right": pe.shift_left <= t.eye_fit_max_shift, "left": pe.shift_right <= t.eye_fit_max_shift}
    subj = {"right": pe.img_left if own["right"] else j_img_l, "left": pe.img_right if own["left"] else j_img_r}
    judged = {k: v for k, v in subj.items() if own[k]}
    eye = min(judged or subj, key=subj.get)
    m = subj[eye]
    own_fit = "both" if all(own.values()) else ("none" if not any(own.values()) else
                                               ("left" if own["left"] else "right"))
    measured = {"min": r1(m, 3), "eye": eye, "left": r1(subj["left"], 3), "right": r1(subj["right"], 3),
                "joint": r1(joint, 3), "own_fit": own_fit}
    expected = f"每只眼睛 ≥ {t.eye_pass_min:g}，双眼整体 ≥ {t.pass_min:g}"
    st_eye = grade_low(m, t.eye_pass_min, t.eye_warn_min) if judged else PASS
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
