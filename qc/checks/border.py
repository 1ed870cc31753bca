"""``border``: no constant-colour frame (black edge, white margin, letterbox) on any side.

Rule (spec §2 "no border", upstream label 黑边检测).  Method, per side at full
resolution: walk inwards from the edge over at most ``scan_px`` lines; a line is
*uniform* when at least ``uniform_share`` of its pixels lie within ``uniform_tol_de``
(ΔE*ab) of the line's median colour.  The frame is the run of uniform lines whose
median stays within ``uniform_tol_de`` of the edge line; it is a border when it is at
least ``min_px`` thick, shorter than ``scan_px`` (a backdrop that stays uniform deeper
in is not a frame), and the median colour steps by at least ``step_de`` into the next
line.  A *dark* edge (median L* ≤ ``dark_l_max``) that stays uniform for the whole
scan depth is a border too (black letterbox/pillarbox bars wider than ``scan_px``).
Measured: the thickest frame found (px; at least ``scan_px`` for a deep dark bar).

Profile keys: ``scan_px``, ``min_px``, ``uniform_tol_de``, ``uniform_share``, ``step_de``,
``dark_l_max``.
Known limits: a frame that covers only part of a side, or one of exactly the backdrop
colour, is not seen (the latter is harmless).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import FAIL, PASS, result

NAME = "border"
LABEL_ZH = "黑边检测"
REQUIRES: tuple[str, ...] = ("pixels",)

_SIDES_ZH = {"top": "顶部", "bottom": "底部", "left": "左侧", "right": "右侧"}


@dataclass(frozen=True)
class Thresholds:
    """Sizes in px, colour distances in ΔE*ab, ``uniform_share`` a fraction 0–1."""

    scan_px: int
    min_px: int
    uniform_tol_de: float
    uniform_share: float
    step_de: float
    dark_l_max: float = -1.0


def _lines(rgb: np.ndarray, side: str, n: int) -> np.ndarray:
    """The ``n`` outermost lines of a side as ``(n, L, 3)`` uint8, edge line first."""
    if side == "top":
        return rgb[:n]
    if side == "bottom":
        return rgb[::-1][:n]
    if side == "left":
        return rgb[:, :n].transpose(1, 0, 2)
    return rgb[:, ::-1][:, :n].transpose(1, 0, 2)


def _planar(lab: np.ndarray) -> np.ndarray:
    """``(k, L, 3)`` lines as contiguous ``(k, 3, L)`` channel rows: their medians
    (:func:`qc.segment.median_rows`) and per-pixel ΔE read contiguous memory, half the
    cost of numpy's median over a strided axis."""
    return np.ascontiguousarray(lab.transpose(0, 2, 1))


def _uniform_lines(planar: np.ndarray, med: np.ndarray, tol: float, share: float) -> list[bool]:
    """Whether at least ``share`` of each line's pixels lie within ``tol`` (ΔE*ab) of its
    median: the ΔE of every pixel from contiguous channel rows (the same values as
    ``norm3(lab - med[:, None, :])``, at a third of the cost of the strided form)."""
    d = planar - med[:, :, None]
    d *= d
    dist = np.sqrt(d[:, 0] + d[:, 1] + d[:, 2])
    return (np.count_nonzero(dist <= tol, axis=1) / dist.shape[1] >= share).tolist()


def _side_lines(rgb: np.ndarray, side: str, n: int, tol: float,
                share: float) -> tuple[np.ndarray, list[bool], list[float]]:
    """Per line of the outermost lines of ``side`` (at most ``n``): median CIELAB
    ``(k, 3)``, whether the line is uniform, and the distance (ΔE*ab) of its median from
    the edge line's.  The expensive part (colour conversion and medians), shared by this
    check and the segmentation's frame stripping.

    Lines are measured from the edge inwards, four first, then the rest of the depth at
    once, and the scan stops three lines after the first line that ends a frame (not
    uniform, or off the edge colour): that is all :func:`frame_thickness` reads, so
    ``k < n`` then.  Most photos have no frame and their sides stop after the first four
    lines (the shoulders make a side line non-uniform); only a uniform top band is read
    to the full depth (in one conversion, not in chunks).
    """
    from ..segment import median_rows, rgb_to_lab  # noqa: PLC0415

    lines = _lines(rgb, side, n)
    meds: list[np.ndarray] = []
    uniform: list[bool] = []
    from_edge: list[float] = []
    start, chunk, stop_at = 0, 4, n
    while start < min(n, stop_at):
        end = min(n, start + chunk)
        planar = _planar(rgb_to_lab(lines[start:end]))    # (k, 3, L)
        med = median_rows(planar)                           # (k, 3)
        meds.append(med)
        uniform += _uniform_lines(planar, med, tol, share)
        edge = meds[0][0]
        from_edge += np.sqrt(((med - edge) ** 2).sum(axis=-1)).tolist()
        if stop_at == n:
            for i in range(start, end):
                if not uniform[i] or from_edge[i] > tol:
                    stop_at = i + 3
                    break
        start, chunk = end, n   # past the first chunk: a uniform band runs deep, read it at once
    k = min(n, stop_at, len(uniform))
    return np.vstack(meds)[:k], uniform[:k], from_edge[:k]


def frame_thickness(rgb: np.ndarray, side: str, t: Thresholds, memo=None) -> int:
    """Thickness in px of a constant-colour frame on ``side`` of ``rgb`` ``(H, W, 3)``, 0 if none.

    ``memo(key, fn)`` (a :meth:`qc.context.PhotoContext.memo`) shares the line statistics
    between callers that look at the same image.
    """
    n = min(t.scan_px + 1, rgb.shape[0 if side in ("top", "bottom") else 1] // 2)
    if n < 2:
        return 0
    args = (side, n, float(t.uniform_tol_de), float(t.uniform_share))
    if memo is None:
        med, uniform, from_edge = _side_lines(rgb, *args)
    else:
        med, uniform, from_edge = memo(("border_lines",) + args, lambda: _side_lines(rgb, *args))
    run = 0
    for i in range(len(uniform)):
        if not uniform[i] or from_edge[i] > t.uniform_tol_de:
            break
        run += 1
    if run >= n and med[0][0] <= t.dark_l_max:
        return run
    if run < t.min_px or run >= n:
        return 0
    # The line right after the frame may be a JPEG-ringing mix: compare the frame colour
    # with the content up to two lines further in.
    nxt = med[run:min(n, run + 3)]
    step = float(np.sqrt(((nxt - med[0]) ** 2).sum(axis=-1)).max())
    return run if step >= t.step_de else 0


def frame_insets(rgb: np.ndarray, t: Thresholds, memo=None) -> dict[str, int]:
    """Frame thickness (px) per side: ``{"top", "bottom", "left", "right"}``."""
    return {s: frame_thickness(rgb, s, t, memo) for s in ("top", "bottom", "left", "right")}


def check(ctx, t: Thresholds):
    rgb = ctx.rgb
    h, w = rgb.shape[:2]
    found = frame_insets(rgb, t, ctx.memo)
    worst = max(found.values())
    expected = "无边框"
    if worst == 0:
        return result(NAME, PASS, measured=0, expected=expected, unit="px")
    sides = [s for s, v in found.items() if v]
    s0 = max(sides, key=lambda s: found[s])
    region = {"top": (0, 0, w, found["top"]), "bottom": (0, h - found["bottom"], w, h),
              "left": (0, 0, found["left"], h), "right": (w - found["right"], 0, w, h)}[s0]
    where_zh = "、".join(f"{_SIDES_ZH[s]} {found[s]} 像素" for s in sides)
    where_en = ", ".join(f"{s} {found[s]} px" for s in sides)
    return result(NAME, FAIL, measured=worst, expected=expected, reason="found", unit="px", label=LABEL_ZH,
                  region=region,
                  zh=f"照片边缘有纯色边框（{where_zh}）：请直接用相机原图裁切，不要加边框或拼接",
                  en=f"a constant-colour frame at the edge ({where_en}): crop from the camera original, add no frame")
