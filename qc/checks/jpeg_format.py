"""``jpeg_format``: the file is a baseline JPEG that decodes, named ``.jpg``.

Rule (spec §2): baseline JPEG, extension ``.jpg`` (lowercase).  Progressive JPEG and a
wrong extension get the status the profile names; anything that is not a JPEG or does
not decode fails.  Works without decoded pixels (this is the check an unreadable file
fails).

Profile keys (``[checks.jpeg_format]``): ``progressive_status``, ``extension``,
``extension_status``.
Known limits: the extension is only judged when the photo has a file name; arithmetic
coded or lossless JPEGs are reported as whatever Pillow decodes them as.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from ._common import FAIL, PASS, check_status_name, result, status_from_name

NAME = "jpeg_format"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    """``progressive_status``/``extension_status``: pass, warn or fail; ``extension``: e.g. ``.jpg``."""

    progressive_status: str
    extension: str
    extension_status: str

    def __post_init__(self):
        check_status_name(self.progressive_status, "progressive_status")
        check_status_name(self.extension_status, "extension_status")


def check(ctx, t: Thresholds):
    expected = f"baseline JPEG（{t.extension}）"
    data = ctx.data
    err = ctx.decode_error
    is_jpeg_magic = data[:3] == b"\xff\xd8\xff"
    if err is not None:
        if is_jpeg_magic:
            reason = "truncated" if err.code == "truncated" else "undecodable"
        else:
            reason = {"empty": "empty", "not_an_image": "not_an_image", "too_large": "too_large"}.get(err.code, "undecodable")
        return result(NAME, FAIL, measured=err.code, expected=expected, reason=reason,
                      zh=f"{err.message_zh}：请重新拍摄或重新导出为 JPEG 照片",
                      en=f"{err.message_en}: retake the photo or export it again as JPEG")
    facts = ctx.facts
    if facts.format != "JPEG" or not is_jpeg_magic:
        fmt = facts.format or "RAW"
        return result(NAME, FAIL, measured=fmt, expected=expected, reason="not_jpeg",
                      zh=f"文件格式为 {fmt}，要求 JPEG：请以 JPEG（.jpg）格式保存照片",
                      en=f"file format is {fmt}, JPEG required: save the photo as JPEG (.jpg)")
    if facts.progressive:
        st = status_from_name(t.progressive_status)
        if st is not PASS:
            return result(NAME, st, measured="progressive JPEG", expected=expected, reason="progressive",
                          zh="照片为渐进式 JPEG，要求基线（baseline）JPEG：请关闭“渐进式”选项重新导出",
                          en="progressive JPEG, baseline required: export again without the progressive option")
    name = getattr(ctx, "name", None)
    if name:
        suffix = PurePath(str(name)).suffix
        if suffix != t.extension:
            st = status_from_name(t.extension_status)
            if st is not PASS:
                return result(NAME, st, measured=f"baseline JPEG ({suffix or '无扩展名'})", expected=expected,
                              reason="extension",
                              zh=f"文件扩展名为“{suffix or '（无）'}”，要求“{t.extension}”：请重命名文件",
                              en=f"file extension is '{suffix}', '{t.extension}' required: rename the file")
    return result(NAME, PASS, measured="baseline JPEG", expected=expected)
