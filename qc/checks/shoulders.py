"""``shoulders``: both shoulders in frame, the body reaches the bottom edge, chin high enough.

Rule (spec §3, imaging-unit practice; upstream label 黑边检测).  Measured: the chin row
(landmark 8, px) and the body coverage of the bottom band (share of the bottom
``band_px`` rows covered by the person mask); the body must also reach both the left
and the right third of the bottom band (both shoulders).

Grading: coverage ≥ ``pass_coverage``, both shoulders and chin ≤ ``chin_max`` pass;
chin lower than ``chin_max`` or coverage between ``fail_coverage`` and
``pass_coverage`` warn; coverage < ``fail_coverage`` or a shoulder missing fail.

When the bottom band under the face (± ``torso_half_width`` face widths) is mostly
within ``near_de`` of the backdrop model (share above ``undecided_share``), the mask
cannot tell clothes from backdrop: the check is then not assessed and
``clothing_contrast`` (same upstream label) reports the cause.

Profile keys: ``chin_max`` (px), ``band_px`` (px), ``pass_coverage``, ``fail_coverage``
(fractions 0–1), ``near_de`` (ΔE*ab), ``torso_half_width`` (face widths),
``undecided_share`` (0–1).
Known limits: a body cut by a side edge still covers the band; a student sitting far
off-centre is caught by ``horizontal_centre`` instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import FAIL, PASS, WARN, check_order, not_assessed, r1, result

NAME = "shoulders"
LABEL_ZH = "黑边检测"
REQUIRES: tuple[str, ...] = ("pixels", "face")


@dataclass(frozen=True)
class Thresholds:
    """``chin_max``/``band_px`` in px; coverages as fractions of the bottom band."""

    chin_max: float
    band_px: int
    pass_coverage: float
    fail_coverage: float
    near_de: float
    torso_half_width: float
    undecided_share: float

    def __post_init__(self):
        check_order("fail_coverage", self.fail_coverage, "pass_coverage", self.pass_coverage)


def measure(ctx, band_px: int) -> tuple[float, float, bool, bool]:
    """``(chin_y, coverage, left_shoulder, right_shoulder)`` for ``ctx``."""
    chin = float(ctx.face.chin[1])
    pm = ctx.person_mask
    h, w = pm.shape
    band = pm[max(0, h - band_px):]
    cov = float(band.mean()) if band.size else 0.0
    third = w // 3
    left = bool(band[:, :third].mean() > 0.25) if third else False
    right = bool(band[:, w - third:].mean() > 0.25) if third else False
    return chin, cov, left, right


def _undecided_share(ctx, t: Thresholds) -> float:
    """Share of the bottom band under the face within ``near_de`` of the backdrop model."""
    f = ctx.face
    seg = ctx.segmentation
    s = seg.scale
    fw = max(f.jaw_width, f.box.width * 0.9)
    cx = float(f.landmarks[27:31, 0].mean())
    x0 = int(max(0, (cx - t.torso_half_width * fw) * s))
    x1 = int(min(seg.backdrop_de.shape[1], (cx + t.torso_half_width * fw) * s))
    y0 = int((ctx.height - t.band_px) * s)
    de = seg.backdrop_de[y0:, x0:max(x0 + 1, x1)]
    return float((de < t.near_de).mean()) if de.size else 0.0


def check(ctx, t: Thresholds):
    expected = f"下巴 ≤ {t.chin_max:g} px，底部人体覆盖 ≥ {100 * t.pass_coverage:.0f}%"
    if not ctx.segmentation.reliable:
        return not_assessed(NAME, "busy_backdrop", "背景不是纯色，无法判断肩部", "backdrop not plain: shoulders cannot be judged",
                            label=LABEL_ZH, expected=expected)
    chin, cov, left, right = measure(ctx, t.band_px)
    h, w = ctx.height, ctx.width
    measured = {"chin_y": r1(chin), "coverage": r1(cov, 3)}
    band_region = (0, h - t.band_px, w, h)
    if cov < t.pass_coverage or not (left and right):
        undecided = _undecided_share(ctx, t)
        if undecided > t.undecided_share:
            return not_assessed(NAME, "clothing_like_backdrop",
                                f"上衣与背景颜色太接近（{100 * undecided:.0f}%），无法分辨肩部：见“服装与背景反差”",
                                f"clothes match the backdrop ({100 * undecided:.0f}%): shoulders cannot be told apart, see clothing_contrast",
                                label=LABEL_ZH, expected=expected)
    if cov < t.fail_coverage or not (left and right):
        if not (left or right) or cov < t.fail_coverage:
            zh = (f"照片底部人体只占 {100 * cov:.0f}%（要求 ≥ {100 * t.pass_coverage:.0f}%）：肩部未入镜或衣服颜色与背景太接近，"
                  "请后退一点让双肩入镜，并换一件与背景颜色反差大的上衣")
            en = (f"the body covers only {100 * cov:.0f}% of the bottom rows (≥ {100 * t.pass_coverage:.0f}% required): shoulders out of frame "
                  "or clothes too close to the backdrop colour; step back so both shoulders show, wear a contrasting top")
        else:
            side_zh = "画面左侧" if not left else "画面右侧"
            zh = f"{side_zh}的肩膀不在画面内：请让学生居中坐正，双肩都入镜"
            en = f"the shoulder on the image's {'left' if not left else 'right'} is out of frame: centre the student so both shoulders show"
        return result(NAME, FAIL, measured=measured, expected=expected, reason="no_shoulders", label=LABEL_ZH,
                      region=band_region, zh=zh, en=en)
    if chin > t.chin_max:
        return result(NAME, WARN, measured=measured, expected=expected, reason="chin_low", label=LABEL_ZH,
                      region=(0, int(t.chin_max), w, int(min(h, chin + 5))),
                      zh=f"下巴在 {chin:.0f} 像素处，要求 ≤ {t.chin_max:g}：肩部露得太少，请把相机放低一点或让学生坐高一点",
                      en=f"chin at {chin:.0f} px, at most {t.chin_max:g} required: too little shoulder in frame, lower the camera or seat the student higher")
    if cov < t.pass_coverage:
        return result(NAME, WARN, measured=measured, expected=expected, reason="low_coverage", label=LABEL_ZH,
                      region=band_region,
                      zh=f"照片底部人体只占 {100 * cov:.0f}%（要求 ≥ {100 * t.pass_coverage:.0f}%）：请后退一点让双肩完整入镜，或换与背景反差大的上衣",
                      en=f"the body covers {100 * cov:.0f}% of the bottom rows (≥ {100 * t.pass_coverage:.0f}% expected): step back so both shoulders show, or wear a contrasting top")
    return result(NAME, PASS, measured=measured, expected=expected, label=LABEL_ZH)
