"""``face_count``: exactly one face.

Rule (spec §5): 1 pass, 0 or ≥ 2 fail.  Which detections count is decided by the
context's sanity rule (``[detection]`` keys ``primary_min_score``,
``secondary_min_score``, ``secondary_min_rel_width``); this check reads ``ctx.faces``.
Profile keys: ``expected``.
Known limits: dlib's HOG finds frontal faces; a head turned beyond ~45° or a face
smaller than ~40 px in the detection copy is not seen.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import FAIL, PASS, result

NAME = "face_count"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels",)


@dataclass(frozen=True)
class Thresholds:
    """``expected``: the number of faces required (1)."""

    expected: int


def check(ctx, t: Thresholds):
    fs = ctx.faces
    n = len(fs)
    expected = str(t.expected)
    if n == t.expected:
        return result(NAME, PASS, measured=n, expected=expected)
    if n == 0:
        return result(NAME, FAIL, measured=0, expected=expected, reason="none",
                      zh="未检测到人脸：请让学生正对镜头、摘下帽子/口罩，确认光线充足后重拍",
                      en="no face found: have the student face the camera, remove hat/mask, check the light, retake")
    b = fs[1].box.clipped(ctx.width, ctx.height)
    return result(NAME, FAIL, measured=n, expected=expected, reason="several",
                  region=(b.left, b.top, b.right, b.bottom),
                  zh=f"检测到 {n} 张人脸，只允许 1 人：请让其他人离开取景范围后重拍",
                  en=f"{n} faces found, only one person allowed: clear the frame of other people and retake")
