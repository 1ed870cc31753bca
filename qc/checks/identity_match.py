"""``identity_match``: the face is the student's, compared with a reference photo.

Rule (spec §1/§5, issue 8).  Measured: Euclidean distance between dlib's 128-d face
encodings of this photo and of the reference (``ctx.reference_encoding``, set by
:func:`qc.check_photo` from the ``reference`` argument).  ≤ ``pass_max`` pass,
≤ ``warn_max`` warn (operator compares side by side), beyond fail.  Not assessed when
no reference is given.  Thresholds calibrated on the corpus identities
(``tools/calibration/out/identity_table.csv``).

Profile keys: ``pass_max``, ``warn_max`` (encoding distance).
Known limits: the dlib model is weaker on children, East-Asian faces in some studies,
and across many years of ageing; a warn is a request for a human look, not a verdict.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import faces as _faces
from ._common import PASS, check_order, grade_high, not_assessed, r1, result

NAME = "identity_match"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """Limits on the encoding distance (dimensionless, 0–~1.5)."""

    pass_max: float
    warn_max: float

    def __post_init__(self):
        check_order("pass_max", self.pass_max, "warn_max", self.warn_max)


def check(ctx, t: Thresholds):
    expected = f"≤ {t.pass_max:g}"
    ref = getattr(ctx, "reference_encoding", None)
    err = getattr(ctx, "reference_error", None)
    if ref is None:
        if err:
            return not_assessed(NAME, "bad_reference", f"参考照片不可用：{err[0]}", f"reference photo unusable: {err[1]}",
                                expected=expected, unit="distance")
        return not_assessed(NAME, "no_reference", "没有该学生的参考照片，未做人像比对",
                            "no reference photo for this student: identity not compared", expected=expected, unit="distance")
    enc = ctx.encoding
    d = float(_faces.distances(ref, enc)[0])
    st = grade_high(d, t.pass_max, t.warn_max)
    if st is PASS:
        return result(NAME, PASS, measured=r1(d, 3), expected=expected, unit="distance")
    b = ctx.face.box.clipped(ctx.width, ctx.height)
    region = (b.left, b.top, b.right, b.bottom)
    if st.value == "warn":
        return result(NAME, st, measured=r1(d, 3), expected=expected, reason="uncertain", unit="distance", region=region,
                      zh=f"与参考照片的人脸相似度不确定（距离 {d:.2f}，要求 ≤ {t.pass_max:g}）：请操作员对照参考照片人工确认是否本人",
                      en=f"uncertain match with the reference photo (distance {d:.2f}, ≤ {t.pass_max:g} for a match): operator to compare side by side")
    return result(NAME, st, measured=r1(d, 3), expected=expected, reason="mismatch", unit="distance", region=region,
                  zh=f"与参考照片不像同一人（距离 {d:.2f}，要求 ≤ {t.pass_max:g}）：请核对学生身份与学号，确认没有拍错人",
                  en=f"does not match the reference photo (distance {d:.2f}, ≤ {t.pass_max:g} for a match): check the student's identity and number")
