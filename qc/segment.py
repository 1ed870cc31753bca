"""Person / backdrop split for ID-style photos, without a learned model.

No segmentation model is available offline here (OpenCV 5 ships none, mediapipe
downloads its models at run time), so the person is found as "what differs from the
backdrop": the backdrop colour is modelled from the image border (top band, and the
side bands above the chin) as a smooth quadratic surface per CIELAB channel, which
absorbs vignetting and soft gradients; pixels far from that surface (ΔE*ab) are person
candidates; the connected component holding the face (seeded with the landmark outline
extended over the forehead) is kept and its holes filled.

Everything runs on a small copy (``work_width`` px wide, ~240: a 480×640 photo is
worked at half size), so the whole split costs a few milliseconds; only the crown row
is refined on the full-resolution rows around it, so ``crown_y`` is exact to a pixel.

The person threshold adapts to how clean the backdrop is: ``person_de`` grows with
the median residual of the border samples (a noisy or vignetted backdrop needs a larger
margin), between ``person_de_min`` and ``person_de_max``.

Known limits: a busy backdrop (scene, logos) gives ``reliable=False`` and a mask not to
be trusted; hair or clothes of nearly the backdrop colour are lost (for hair the crown
then reads low, i.e. "more room above the head"; for clothes the body coverage drops,
which is what the upstream 黑边检测 rejects as well); cast shadows on the backdrop count
as person.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .context import Segmentation
from .faces import Face


@dataclass(frozen=True)
class SegmentationParams:
    """Profile section ``[segmentation]`` (ΔE in CIELAB ΔE*ab units, sizes in px).

    Attributes
    ----------
    work_width : int
        Width of the working copy.
    person_de_min, person_de_max : float
        Bounds of the person threshold (ΔE*ab from the backdrop model).
    person_de_per_residual : float
        Added to ``person_de_min`` per unit of median border residual (ΔE*ab).
    backdrop_share : float
        A pixel is confidently backdrop below ``backdrop_share × person_de``.
    busy_residual_de : float
        Median border residual above which the backdrop is "busy" (``reliable=False``).
    frame_scan_px, frame_tol_de, frame_share, frame_step_de : int, float, float, float
        A constant-colour frame at the edges (see ``qc.checks.border``) is replaced by
        the content next to it before modelling, so a frame does not spoil the backdrop
        model (the ``border`` check reports it).  ``frame_scan_px = 0`` disables this.
    """

    work_width: int = 240
    person_de_min: float = 8.0
    person_de_max: float = 16.0
    person_de_per_residual: float = 4.0
    backdrop_share: float = 0.6
    busy_residual_de: float = 6.0
    frame_scan_px: int = 40
    frame_tol_de: float = 6.0
    frame_share: float = 0.97
    frame_step_de: float = 10.0


def strip_frame(rgb: np.ndarray, p: SegmentationParams, memo=None) -> tuple[np.ndarray, dict[str, int]]:
    """``rgb`` with any edge frame replaced by replicated content, and the insets found (px).

    ``memo``: the photo context's memo, to share the edge-line statistics with the
    ``border`` check."""
    import cv2  # noqa: PLC0415

    from .checks.border import Thresholds, frame_insets  # noqa: PLC0415

    if p.frame_scan_px <= 0:
        return rgb, {}
    t = Thresholds(scan_px=p.frame_scan_px, min_px=1, uniform_tol_de=p.frame_tol_de,
                   uniform_share=p.frame_share, step_de=p.frame_step_de)
    ins = frame_insets(rgb, t, memo)
    if not any(ins.values()):
        return rgb, ins
    h, w = rgb.shape[:2]
    # Two more lines per side: JPEG ringing blurs the frame's inner edge.
    m = {k: (v + 2 if v else 0) for k, v in ins.items()}
    inner = np.ascontiguousarray(rgb[m["top"]:h - m["bottom"], m["left"]:w - m["right"]])
    out = cv2.copyMakeBorder(inner, m["top"], m["bottom"], m["left"], m["right"], cv2.BORDER_REPLICATE)
    return out, ins


def norm3(d: np.ndarray) -> np.ndarray:
    """Euclidean norm over a last axis of length 3 (e.g. ΔE*ab of a CIELAB difference).

    The same values as ``np.sqrt((d ** 2).sum(axis=-1))`` — numpy adds the three terms
    left to right too — written elementwise: numpy's reduction over a length-3 axis
    costs an order of magnitude more than three vector additions.
    """
    return np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)


def masked(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``a[mask]`` for an ``(H, W[, C])`` array and an ``(H, W)`` bool mask, as a copy.

    The same rows, gathered with ``np.compress`` over the flattened pixels: numpy's
    boolean indexing of a multi-channel image cost five times as much (0.42 vs 0.08 ms
    for the backdrop pixels of a 240×320 copy).
    """
    if a.ndim == mask.ndim:
        return np.compress(mask.ravel(), a.ravel())
    return np.compress(mask.ravel(), a.reshape(mask.size, -1), axis=0)


# Order statistics.  numpy >= 2 sends a partition at a single position to x86-simd-sort's
# vectorised quickselect (AVX2/AVX-512), and that is slow on the data QC feeds it: the
# CIELAB values of a plain backdrop take only ~100 distinct values over 20–40 thousand
# pixels, and on so many ties one row took 0.3–2.5 ms.  A partition at two or more
# positions goes to numpy's introselect, which took 37–81 µs on the same rows (measured
# on a 2-core AMD EPYC with AVX-512, numpy 2.4; with AVX-512 or AVX2 switched off through
# NPY_DISABLE_CPU_FEATURES the single-position call is 0.4 / 0.24 ms a photo and the
# two-position call 0.25 either way).  So every selection asks for at least two
# positions.  Until this, long rows were narrowed by counting first (a bincount over
# 1024 buckets, then a partition of the one bucket holding the rank): exact too, but
# 0.64 ms a photo against 0.27 for the padded partition.  The values are numpy's
# either way, so every median and quantile is bit-identical.
_SELECT_DIRECT = 2048   # median_rows: rows up to this long are sorted instead


def order_stats(r: np.ndarray, ks) -> list:
    """The values of 1-D ``r`` at the 0-based sorted positions ``ks`` (ascending), as
    ``np.partition(r, ks)[ks]`` gives them (same dtype, same values; NaN sorts last)."""
    ks = list(ks)
    kth = ks
    if len(ks) == 1 and len(r) > 1:
        # A neighbouring position as well: see above (introselect, not the SIMD quickselect).
        k = ks[0]
        kth = [k, k + 1] if k + 1 < len(r) else [k - 1, k]
    part = np.partition(r, kth)
    return [part[k] for k in ks]


def median_rows(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=-1)`` of contiguous rows, the same values (for an even length
    the mean of the two middle values, in ``a``'s dtype): rows up to ``_SELECT_DIRECT``
    long from one sort, longer ones from one partition per row (:func:`order_stats`);
    numpy's median partitions at both middle indices and dispatches generically, twice
    the cost here.  Raises ``ValueError`` for empty rows."""
    n = a.shape[-1]
    if n == 0:
        raise ValueError("median of an empty row")
    h = n // 2
    if n <= _SELECT_DIRECT:
        # Short rows are sorted: an edge line of a plain backdrop holds ~10-40 distinct
        # values over 480-640 pixels, and on so many ties a partition took 12.6 µs a row
        # against 3.7 µs for a sort (the same order statistics either way).
        srt = np.sort(a, axis=-1)
        if n % 2:
            return srt[..., h]
        return (srt[..., h - 1] + srt[..., h]) / 2
    rows = a.reshape(-1, n)
    ks = [h] if n % 2 else [h - 1, h]
    vals = np.array([order_stats(row, ks) for row in rows], dtype=a.dtype)
    shape = a.shape[:-1]
    if n % 2:
        return vals[:, 0].reshape(shape)
    return ((vals[:, 0] + vals[:, 1]) / 2).reshape(shape)


def _well_posed(rows: int, ata: np.ndarray) -> bool:
    """The normal equations ``ata`` (``a.T @ a`` of a design of ``rows`` rows) can be
    solved safely: at least as many rows as terms and a condition number below 1e10 (from the
    eigenvalues of the symmetric ``ata``: the same number as ``np.linalg.cond``'s SVD to
    rounding, at a fifth of the cost)."""
    if rows < ata.shape[0]:
        return False
    ev = np.abs(np.linalg.eigvalsh(ata))
    return bool(ev.min() > 0 and ev.max() / ev.min() < 1e10)


def quantile(r: np.ndarray, q: float) -> float:
    """``numpy.quantile(r, q)`` (default "linear" method) for 1-D ``r``, to float rounding.

    The two neighbours of the virtual index ``(n − 1)·q`` from one partition
    (:func:`order_stats`); numpy's own dispatch cost four to ten times a single partition
    here.
    """
    n = len(r)
    vi = (n - 1) * q
    lo = min(max(int(np.floor(vi)), 0), n - 1)
    if lo + 1 >= n:
        return float(order_stats(r, [lo])[0])
    a, b = (float(v) for v in order_stats(r, [lo, lo + 1]))
    return a + (b - a) * (vi - lo)


def _design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)


def _surface(b: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The 6-term quadratic ``b`` of :func:`_design` on the grid ``y (rows) × x (columns)``.

    Evaluated separably by broadcasting (``(h, 1)`` and ``(1, w)`` terms) instead of a
    ``(h·w, 6)`` design matrix times ``b``: that matrix–vector product was the costliest
    step of a QC run (18 ms for a 240×320 copy), and it is large enough for OpenBLAS
    to hand it to worker threads, which then spin on the second core and slowed the
    *next* dlib detection by ~65 % on a two-core machine.
    """
    x = x[None, :]
    y = y[:, None]
    return (b[0] + b[2] * y + b[5] * y * y) + (b[1] + b[4] * y) * x + b[3] * (x * x)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 sRGB → float32 CIELAB (D65), ``L`` in 0–100."""
    import cv2  # noqa: PLC0415

    a = np.ascontiguousarray(rgb)
    shp = a.shape
    if a.size == 0:
        return np.zeros(shp[:-1] + (3,), np.float32)
    f = a.astype(np.float32)
    f /= 255.0
    # Convert as a 2-D image: OpenCV works row by row, and the (N, 1, 3) column this
    # used to pass paid the per-row overhead N times — 10–20× slower for the same values
    # (bit-identical: the conversion is per pixel, which also lets it run in place: one
    # buffer for the scaled input and the output, two fewer image-sized allocations,
    # 0.85 -> 0.65 ms for a 240×320 copy).
    img = f if f.ndim == 3 else f.reshape(1, -1, 3)
    return cv2.cvtColor(img, cv2.COLOR_RGB2Lab, dst=img).reshape(shp[:-1] + (3,))


def _fit_channels(X: np.ndarray, V: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Trimmed least-squares fit of the 6-term model to each row of ``V`` ``(3, n)``.

    Each round refits on the samples whose residual is within the 80th percentile of the
    previous fit's (over all samples), ``rounds`` fits in all; a fit on 30 samples or
    fewer is not trimmed further.  Returns the coefficients ``(3, 6)``.

    Through the normal equations: the first round is one solve with the three channels
    as right-hand sides; a trimmed round subtracts the dropped fifth of the rows from the
    full normal matrix instead of rebuilding it from the kept four fifths (the same
    solution to ~1e-12).  Falls back to ``numpy.linalg.lstsq`` on the kept rows when a
    design is (nearly) rank-deficient, e.g. all samples on one row.  Was nine separate
    fits at 1.3 ms; now 0.5 ms.
    """
    n = X.shape[0]
    ata0 = X.T @ X
    rhs0 = X.T @ V.T                                      # (6, 3)
    if _well_posed(n, ata0):
        B = np.linalg.solve(ata0, rhs0).T
    else:
        B = np.linalg.lstsq(X, V.T, rcond=None)[0].T
    # A channel whose last fit used 30 rows or fewer is not trimmed again (its next
    # round would refit the same rows).
    trim = [n > 30] * 3
    for _ in range(rounds - 1):
        if not any(trim):
            break
        R = np.abs(B @ X.T - V)                           # (3, n)
        nxt = B.copy()
        for c in range(3):
            if not trim[c]:
                continue
            drop = R[c] > quantile(R[c], 0.8)
            xd = np.compress(drop, X, axis=0)
            ata = ata0 - xd.T @ xd
            kept = n - xd.shape[0]
            if _well_posed(kept, ata):
                nxt[c] = np.linalg.solve(ata, rhs0[:, c] - xd.T @ np.compress(drop, V[c]))
            else:
                keep = ~drop
                nxt[c] = np.linalg.lstsq(X[keep], V[c][keep], rcond=None)[0]
            trim[c] = kept > 30
        B = nxt
    return B


def _backdrop_de(planes, coeffs, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ΔE*ab ``(h, w)`` float32 of the CIELAB ``planes`` (three ``(h, w)``) from the model.

    The quadratic of :func:`_surface` per channel, fused with the difference and its
    square in float32 (the row terms in float64): the model itself is never stored,
    which halved this step on a cache-cold machine (it ran right after detection).
    """
    x32 = x.astype(np.float32)[None, :]
    xx32 = (x * x).astype(np.float32)[None, :]
    acc = None
    for plane, b in zip(planes, coeffs):
        row = (b[0] + b[2] * y + b[5] * y * y).astype(np.float32)[:, None]
        lin = (b[1] + b[4] * y).astype(np.float32)[:, None]
        d = plane - row
        d -= lin * x32
        d -= np.float32(b[3]) * xx32
        d *= d
        if acc is None:
            acc = d
        else:
            acc += d
    return np.sqrt(acc, out=acc)


def face_outline(face: Face) -> np.ndarray:
    """Polygon ``(N, 2)`` float ``(x, y)`` covering the face and forehead.

    Jaw landmarks 0–16 plus the brow landmarks raised by 60 % of the brow-to-chin
    distance (the forehead is not landmarked by the 68-point model).
    """
    lm = face.landmarks
    jaw = lm[0:17]
    brows = lm[17:27][::-1]
    brow_y = brows[:, 1].mean()
    lift = 0.6 * max(1.0, lm[8, 1] - brow_y)
    forehead = brows.copy()
    forehead[:, 1] -= lift
    return np.vstack([jaw, forehead])


def segment_person(rgb: np.ndarray, lab: np.ndarray | None, face: Face | None,
                   params: SegmentationParams | None = None, memo=None) -> Segmentation:
    """Split ``rgb`` (``(H, W, 3)`` uint8) into person and backdrop.

    ``lab`` is accepted for backward compatibility and ignored: CIELAB is computed on
    the small working copy only.  ``face`` (full-resolution coordinates) seeds the
    person component; without it the largest component touching the bottom edge wins.
    """
    import cv2  # noqa: PLC0415

    p = params or SegmentationParams()
    rgb, insets = strip_frame(rgb, p, memo)
    h, w = rgb.shape[:2]
    sw = max(8, min(w, p.work_width))
    scale = sw / float(w)
    sh = max(8, int(round(h * scale)))
    small_rgb = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA) if (sw, sh) != (w, h) else rgb
    small = rgb_to_lab(small_rgb)
    sy = sh / float(h)
    # Normalised coordinates of the columns and rows of the working copy.
    xcol = np.arange(sw) / max(1, sw - 1) - 0.5
    yrow = np.arange(sh) / max(1, sh - 1) - 0.5

    band = max(2, int(round(0.04 * sw)))
    top_band = max(2, int(round(0.04 * sh)))
    if face is not None:
        side_bottom = int(min(sh, max(top_band + 1, face.chin[1] * sy)))
        fb = face.box.scaled(scale).clipped(sw, sh)
    else:
        side_bottom = int(0.6 * sh)
        fb = None
    sample = np.zeros((sh, sw), dtype=bool)
    sample[:top_band, :] = True
    sample[:side_bottom, :band] = True
    sample[:side_bottom, sw - band:] = True
    if fb is not None:
        # Never sample inside (a margin around) the face; a large face must not wipe
        # out the side bands, which carry the backdrop's vertical gradient.
        mx, my = fb.width // 4, fb.height // 2
        x0, x1 = max(band, fb.left - mx), min(sw - band, fb.right + mx)
        sample[max(0, fb.top - my):fb.bottom, x0:x1] = False
        sample[max(0, fb.top - my):fb.bottom, max(0, fb.left):fb.right] = False
    if sample.sum() < 12:
        sample[:top_band, :] = True

    # Row-major sample coordinates, as np.nonzero gives them: np.nonzero of a 2-D mask
    # took 0.15 ms here, the flat indices and a divmod 0.03 ms.
    sy_idx, sx_idx = np.divmod(np.flatnonzero(sample), sw)
    X = _design(xcol[sx_idx], yrow[sy_idx])
    # The samples of the three channels in one pass, channel-major (rows of V: the same
    # contiguous vectors as small[..., c][sample]).
    V = np.ascontiguousarray(masked(small, sample).T, dtype=np.float64)
    B = _fit_channels(X, V)
    resid = norm3(X @ B.T - V.T)                      # ΔE*ab of each sample from the model
    coeffs = [B[c] for c in range(3)]
    median_resid = float(median_rows(resid)) if len(resid) else 99.0
    person_de = float(np.clip(p.person_de_min + p.person_de_per_residual * median_resid,
                              p.person_de_min, p.person_de_max))

    planes = (small[..., 0], small[..., 1], small[..., 2])
    de = _backdrop_de(planes, coeffs, xcol, yrow)
    bg_lab = tuple(float(m) for m in median_rows(V))

    cand = (de > person_de).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    cand = cv2.morphologyEx(cand, cv2.MORPH_OPEN, kernel)
    if face is not None and len(face.landmarks) == 68:
        poly = np.round(face_outline(face) * scale).astype(np.int32)
        cv2.fillPoly(cand, [poly], 1)
    elif fb is not None:
        cand[fb.top:fb.bottom, fb.left:fb.right] = 1
    person_small = None
    if face is not None:
        cx, cy = face.eye_mid * scale if len(face.landmarks) == 68 else np.array(face.box.centre) * scale
        seed = (int(np.clip(cx, 0, sw - 1)), int(np.clip(cy, 0, sh - 1)))
        person_small = component_at(cand, seed)
    if person_small is None:
        person_small = np.zeros((sh, sw), dtype=np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
        if n > 1:
            # Largest component touching the bottom edge (a body), else the largest.
            bottom_ids = [i for i in range(1, n) if stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] >= sh]
            pool = bottom_ids or list(range(1, n))
            person_small = (labels == max(pool, key=lambda i: stats[i, cv2.CC_STAT_AREA])).view(np.uint8)
    if person_small.any():
        # Fill holes: background is what a flood fill from outside the image reaches.
        padded = cv2.copyMakeBorder(1 - person_small, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
        ff = np.zeros((sh + 4, sw + 4), np.uint8)
        cv2.floodFill(padded, ff, (0, 0), 2)
        person_small |= (padded[1:-1, 1:-1] == 1).view(np.uint8)

    # 0/1 uint8 masks reinterpreted as bool (views, not copies: the same arrays' values).
    person = cv2.resize(person_small, (w, h), interpolation=cv2.INTER_NEAREST).view(bool)
    backdrop_small = (de < p.backdrop_share * person_de) & (person_small == 0)

    crown = None
    if person_small.any():
        if face is not None:
            cxf = face.box.centre[0]
            half = 0.8 * face.box.width
            x0, x1 = int(max(0, cxf - half)), int(min(w, cxf + half))
        else:
            x0, x1 = 0, w
        sx0, sx1 = int(x0 * scale), max(int(x0 * scale) + 1, int(np.ceil(x1 * scale)))
        span = person_small[:, sx0:sx1]
        need = max(1, int(0.02 * (sx1 - sx0)))
        rows = np.nonzero(span.sum(axis=1) >= need)[0]
        if len(rows):
            crown = _refine_crown(rgb, int(rows[0]), sy, scale, coeffs, (sw, sh), x0, x1, person_de)
    return Segmentation(person=person, bg_lab=bg_lab, crown_y=crown,
                        reliable=median_resid <= p.busy_residual_de,
                        info={"border_residual_de": median_resid, "scale": scale, "person_de": person_de,
                              "frame": insets},
                        backdrop_de=de, model_coeffs=B, scale=scale, lab_small=small,
                        person_small=person_small.astype(bool), background_small=backdrop_small)


def component_at(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray | None:
    """The 8-connected component of the 0/1 uint8 ``mask`` holding ``seed`` ``(x, y)``, as
    a 0/1 uint8 mask, or ``None`` when the seed pixel is 0.

    A flood fill from the seed: the same pixels as that component's label in
    ``cv2.connectedComponents(mask, connectivity=8)``, without labelling the whole image.
    """
    import cv2  # noqa: PLC0415

    x, y = seed
    if not mask[y, x]:
        return None
    h, w = mask.shape
    ffm = np.zeros((h + 2, w + 2), np.uint8)
    cv2.floodFill(mask, ffm, (int(x), int(y)), 1, flags=8 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    return np.ascontiguousarray(ffm[1:-1, 1:-1])


def _refine_crown(rgb: np.ndarray, row_small: int, sy: float, sx: float, coeffs, small_size,
                  x0: int, x1: int, person_de: float) -> int:
    """Full-resolution first head row near the small-scale estimate ``row_small``.

    Evaluates the backdrop model on the original rows ``[row_small-3, row_small+1]``
    (in small-copy rows) between columns ``x0:x1`` and returns the first row where at
    least 2 % of the span differs from the backdrop by more than ``person_de``.
    """
    h, w = rgb.shape[:2]
    sw, sh = small_size
    y0 = max(0, int(np.floor((row_small - 3.0) / sy)))
    y1 = min(h, int(np.ceil((row_small + 1.0) / sy)) + 1)
    if y1 <= y0 or x1 <= x0:
        return int(round(row_small / sy))
    strip = rgb_to_lab(rgb[y0:y1, x0:x1])
    xn = ((np.arange(x0, x1) + 0.5) * sx - 0.5) / max(1, sw - 1) - 0.5
    yn = ((np.arange(y0, y1) + 0.5) * sy - 0.5) / max(1, sh - 1) - 0.5
    model = np.stack([_surface(b, xn, yn) for b in coeffs], axis=-1)
    de = norm3(strip - model)
    need = max(2, int(0.02 * (x1 - x0)))
    hits = np.nonzero((de > person_de).sum(axis=1) >= need)[0]
    if len(hits):
        return int(y0 + hits[0])
    return int(min(h - 1, round(row_small / sy)))
