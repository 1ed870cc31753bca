"""``dimensions``: the photo is exactly the canvas size (after EXIF orientation).

Rule (spec §2): exactly 480 wide × 640 high.  Profile keys: ``width``, ``height`` (px;
must equal ``[template]``).  Known limits: none — this is a header fact.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import FAIL, PASS, result

NAME = "dimensions"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels",)


@dataclass(frozen=True)
class Thresholds:
    """Required ``width`` and ``height`` in pixels."""

    width: int
    height: int


def check(ctx, t: Thresholds):
    w, h = ctx.facts.width, ctx.facts.height
    expected = f"{t.width}×{t.height} px"
    measured = f"{w}×{h}"
    if (w, h) == (t.width, t.height):
        return result(NAME, PASS, measured=measured, expected=expected, unit="px")
    reason = "rotated" if (w, h) == (t.height, t.width) else "wrong_size"
    zh = f"照片尺寸为 {w}×{h} 像素，要求 {t.width}×{t.height}（宽×高）：请用采集软件自动裁切生成标准照片"
    en = f"photo is {w}×{h} px, {t.width}×{t.height} (w×h) required: let the capture software crop the photo"
    if reason == "rotated":
        zh = f"照片为横向 {w}×{h}，要求竖向 {t.width}×{t.height}：请竖拍或检查相机方向设置"
        en = f"photo is landscape {w}×{h}, portrait {t.width}×{t.height} required: check the camera orientation"
    return result(NAME, FAIL, measured=measured, expected=expected, reason=reason, zh=zh, en=en, unit="px")
