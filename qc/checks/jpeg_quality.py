"""``jpeg_quality``: the IJG quality the file was saved at, estimated from its quantisation tables.

Rule (spec §2): quality ≥ 60 on the IJG scale.  Method: for every IJG quality q in
1..100, scale the standard Annex K luminance (and chrominance) tables as libjpeg does
(``scale = 5000/q`` below 50, ``200 − 2q`` from 50; entries ``(T·scale + 50) // 100``
clamped to 1..255) and pick the q whose tables are nearest (sum of absolute
differences) to the file's.  An exact match means the file came from libjpeg at that
setting; other encoders (cameras, phones) land on the nearest equivalent.

Profile keys: ``pass_min`` (IJG quality).
Known limits: re-saving at a higher quality does not restore lost detail — the tables
then show the last save only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import FAIL, PASS, not_assessed, result

NAME = "jpeg_quality"
LABEL_ZH = None
REQUIRES: tuple[str, ...] = ("pixels",)

# ITU-T T.81 Annex K tables, natural (row-major) order.
_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.int64)
_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, dtype=np.int64)


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """libjpeg's scaling of a base table to ``quality`` (1..100), baseline-clamped to 1..255."""
    q = min(100, max(1, int(quality)))
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((base * scale + 50) // 100, 1, 255)


_TABLES = {q: (ijg_table(_LUMA, q), ijg_table(_CHROMA, q)) for q in range(1, 101)}
#: The same tables stacked, ``(100, 64)`` each, row ``q - 1`` for quality ``q``.
_LUMA_ALL = np.stack([_TABLES[q][0] for q in range(1, 101)]).astype(np.int64)
_CHROMA_ALL = np.stack([_TABLES[q][1] for q in range(1, 101)]).astype(np.int64)


def estimate_quality(quantization: dict[int, list[int]]) -> tuple[int, bool]:
    """``(quality, exact)`` from Pillow-style quantisation tables (id → 64 values, natural order).

    The quality whose IJG tables are nearest (sum of absolute differences, luma plus
    chroma when present); on a tie the higher quality.  All 100 candidates at once (a
    Python loop over them cost 0.35 ms a photo).
    """
    luma = np.asarray(quantization[min(quantization)], dtype=np.int64)
    err = np.abs(_LUMA_ALL - luma).sum(axis=1)
    if len(quantization) > 1:
        chroma = np.asarray(quantization[sorted(quantization)[1]], dtype=np.int64)
        err = err + np.abs(_CHROMA_ALL - chroma).sum(axis=1)
    best_err = int(err.min())
    best = int(np.nonzero(err == best_err)[0][-1]) + 1
    return best, best_err == 0


@dataclass(frozen=True)
class Thresholds:
    """``pass_min``: lowest acceptable IJG quality (1..100)."""

    pass_min: int


def check(ctx, t: Thresholds):
    facts = ctx.facts
    expected = f"≥ {t.pass_min}"
    if facts.format != "JPEG" or not facts.quantization:
        return not_assessed(NAME, "not_jpeg", "不是 JPEG 文件，无法估计压缩质量",
                            "not a JPEG: quality cannot be estimated", expected=expected)
    q, exact = estimate_quality(facts.quantization)
    if q >= t.pass_min:
        return result(NAME, PASS, measured=q, expected=expected, unit="IJG")
    return result(NAME, FAIL, measured=q, expected=expected, reason="too_low", unit="IJG",
                  zh=f"JPEG 压缩质量约 {q}，要求 ≥ {t.pass_min}：请提高导出质量（文件过小时不要反复压缩）",
                  en=f"JPEG quality about {q}, at least {t.pass_min} required: export at a higher quality")

