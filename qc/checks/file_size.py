"""``file_size``: the file size lies in the accepted band (1 KB = 1024 bytes).

Rule (spec §2): accept 30–60 KB, 20–30 KB warn, below 20 or above 60 KB fail.  Works on
the bytes alone (also for files that do not decode).  Profile keys: ``pass_min_kb``,
``pass_max_kb``, ``warn_min_kb``.
Known limits: size says little about quality; ``jpeg_quality`` and ``sharpness`` judge that.
"""
from __future__ import annotations

from dataclasses import dataclass

from ._common import FAIL, PASS, WARN, check_order, not_assessed, r1, result

NAME = "file_size"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thresholds:
    """Bands in KB (1024 bytes): pass ``[pass_min_kb, pass_max_kb]``, warn ``[warn_min_kb, pass_min_kb)``."""

    pass_min_kb: float
    pass_max_kb: float
    warn_min_kb: float

    def __post_init__(self):
        check_order("warn_min_kb", self.warn_min_kb, "pass_min_kb", self.pass_min_kb)
        check_order("pass_min_kb", self.pass_min_kb, "pass_max_kb", self.pass_max_kb)


def check(ctx, t: Thresholds):
    expected = f"{t.pass_min_kb:g}–{t.pass_max_kb:g} KB"
    if not ctx.data:
        if getattr(ctx, "_array", None) is not None:
            return not_assessed(NAME, "no_file", "没有文件字节（直接传入的像素数组）", "no file bytes (pixel array given)",
                                expected=expected, unit="KB")
    kb = len(ctx.data) / 1024.0
    m = r1(kb)
    if t.pass_min_kb <= kb <= t.pass_max_kb:
        return result(NAME, PASS, measured=m, expected=expected, unit="KB")
    if t.warn_min_kb <= kb < t.pass_min_kb:
        return result(NAME, WARN, measured=m, expected=expected, reason="small", unit="KB",
                      zh=f"文件 {kb:.1f} KB，建议 {t.pass_min_kb:g}–{t.pass_max_kb:g} KB：请提高 JPEG 质量重新导出",
                      en=f"file is {kb:.1f} KB, {t.pass_min_kb:g}–{t.pass_max_kb:g} KB expected: export at a higher JPEG quality")
    if kb < t.warn_min_kb:
        return result(NAME, FAIL, measured=m, expected=expected, reason="too_small", unit="KB",
                      zh=f"文件仅 {kb:.1f} KB，要求 {t.pass_min_kb:g}–{t.pass_max_kb:g} KB：压缩过度，请用原始照片以更高质量导出",
                      en=f"file is only {kb:.1f} KB, {t.pass_min_kb:g}–{t.pass_max_kb:g} KB required: over-compressed, export from the original at a higher quality")
    return result(NAME, FAIL, measured=m, expected=expected, reason="too_large", unit="KB",
                  zh=f"文件 {kb:.1f} KB，超过 {t.pass_max_kb:g} KB：请降低 JPEG 质量重新导出",
                  en=f"file is {kb:.1f} KB, above {t.pass_max_kb:g} KB: export at a lower JPEG quality")
