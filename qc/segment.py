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


def _lstsq(a: np.ndarray, b: np.ndarray, ata: "np.ndarray | None" = None,
           well_posed: "bool | None" = None) -> np.ndarray:
    """Least-squares solution of ``a @ x ≈ b`` for the 6-term backdrop model.

    Through the normal equations (a 6×6 solve): the same solution as
    ``numpy.linalg.lstsq`` to ~1e-12 on these well-conditioned designs, at a tenth of the
    cost (the SVD of a few thousand rows took 0.4 ms, nine times a photo).  Falls back to
    ``lstsq`` when the design is (nearly) rank-deficient, e.g. all samples on one row.
    ``ata`` (``a.T @ a``) and ``well_posed`` (its condition test) may be passed in when
    several right-hand sides share the design (the three CIELAB channels' first round).
    """
    if ata is None:
        ata = a.T @ a
    if well_posed is None:
        well_posed = _well_posed(a, ata)
    if well_posed:
        return np.linalg.solve(ata, a.T @ b)
    return np.linalg.lstsq(a, b, rcond=None)[0]


def _well_posed(a: np.ndarray, ata: np.ndarray) -> bool:
    return bool(a.shape[0] >= a.shape[1] and np.linalg.cond(ata) < 1e10)


def _quantile(r: np.ndarray, q: float) -> float:
    """``numpy.quantile(r, q)`` (default "linear" method) for 1-D ``r``, to float rounding.

    Through one ``np.partition`` of the two neighbouring order statistics (virtual index
    ``(n − 1)·q``, linear interpolation) without numpy's generic dispatch, which cost
    ten times the selection itself here (9 calls per photo).  Differs from numpy's
    value by at most a few ulps (numpy rounds the virtual index differently).
    """
    n = len(r)
    vi = n * q + (1.0 + q * (1.0 - 1.0 - 1.0)) - 1.0
    lo = int(np.floor(vi))
    lo = min(max(lo, 0), n - 1)
    hi = min(lo + 1, n - 1)
    part = np.partition(r, (lo, hi)) if hi != lo else np.partition(r, lo)
    a, b = float(part[lo]), float(part[hi])
    g = vi - np.floor(vi)
    if vi < 0:
        return a
    if vi >= n - 1:
        return float(part[n - 1])
    d = b - a
    return b - d * (1.0 - g) if g >= 0.5 else a + d * g


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
    f = a.astype(np.float32) / 255.0
    # Convert as a 2-D image: OpenCV works row by row, and the (N, 1, 3) column this
    # used to pass paid the per-row overhead N times — 10–20× slower for the same values
    # (bit-identical: the conversion is per pixel).
    img = f if f.ndim == 3 else f.reshape(1, -1, 3)
    return cv2.cvtColor(img, cv2.COLOR_RGB2Lab).reshape(shp[:-1] + (3,))


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

    sy_idx, sx_idx = np.nonzero(sample)
    X = _design(xcol[sx_idx], yrow[sy_idx])
    coeffs = []
    resid_total = np.zeros(int(sample.sum()), dtype=np.float64)
    rounds = 3
    # The first round's design is the same for the three channels: its normal matrix and
    # condition test are computed once; the samples of the three channels are gathered
    # in one pass (rows of V: the same contiguous vectors as small[..., c][sample]).
    ata0 = X.T @ X
    ok0 = _well_posed(X, ata0)
    V = np.ascontiguousarray(small[sample].T, dtype=np.float64)
    for c in range(3):
        v = V[c]
        keep = None                 # all samples in the first round
        beta = np.zeros(6)
        for i in range(rounds):  # trimmed least squares: drop the worst 20 % each round
            if keep is None:
                beta = _lstsq(X, v, ata0, ok0)
            else:
                # np.compress: the same rows as X[keep], at a quarter of the cost.
                beta = _lstsq(np.compress(keep, X, axis=0), np.compress(keep, v))
            kept = len(v) if keep is None else int(np.count_nonzero(keep))
            if i < rounds - 1 and kept > 30:  # (the last round's trim would go unused)
                r = np.abs(X @ beta - v)
                keep = r <= _quantile(r, 0.8)
        coeffs.append(beta)
        resid_total += (X @ beta - v) ** 2
    resid = np.sqrt(resid_total)
    median_resid = float(np.median(resid)) if len(resid) else 99.0
    person_de = float(np.clip(p.person_de_min + p.person_de_per_residual * median_resid,
                              p.person_de_min, p.person_de_max))

    model = np.empty((sh, sw, 3), np.float32)
    for c, b in enumerate(coeffs):
        model[..., c] = _surface(b, xcol, yrow)
    de = norm3(small - model)
    bg_lab = tuple(float(np.median(small[..., c][sample])) for c in range(3))

    cand = (de > person_de).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    cand = cv2.morphologyEx(cand, cv2.MORPH_OPEN, kernel)
    if face is not None and len(face.landmarks) == 68:
        poly = np.round(face_outline(face) * scale).astype(np.int32)
        cv2.fillPoly(cand, [poly], 1)
    elif fb is not None:
        cand[fb.top:fb.bottom, fb.left:fb.right] = 1
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    person_small = np.zeros((sh, sw), dtype=np.uint8)
    if n > 1:
        ids: set[int] = set()
        if face is not None:
            cx, cy = face.eye_mid * scale if len(face.landmarks) == 68 else np.array(face.box.centre) * scale
            lab_id = labels[int(np.clip(cy, 0, sh - 1)), int(np.clip(cx, 0, sw - 1))]
            if lab_id != 0:
                ids = {int(lab_id)}
        if not ids:
            # Largest component touching the bottom edge (a body), else the largest.
            bottom_ids = [i for i in range(1, n) if stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] >= sh]
            pool = bottom_ids or list(range(1, n))
            ids = {max(pool, key=lambda i: stats[i, cv2.CC_STAT_AREA])}
        for i in ids:
            person_small[labels == i] = 1
        # Fill holes: background is what a flood fill from outside the image reaches.
        inv = (1 - person_small).astype(np.uint8)
        padded = np.pad(inv, 1, constant_values=1)
        ff = np.zeros((sh + 4, sw + 4), np.uint8)
        cv2.floodFill(padded, ff, (0, 0), 2)
        holes = padded[1:-1, 1:-1] == 1
        person_small[holes] = 1

    # 0/1 uint8 masks reinterpreted as bool (views, not copies: the same arrays' values).
    person = cv2.resize(person_small, (w, h), interpolation=cv2.INTER_NEAREST).view(bool)
    backdrop_small = (de < p.backdrop_share * person_de) & (person_small == 0)
    background = cv2.resize(backdrop_small.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).view(bool)

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
    return Segmentation(person=person, background=background, bg_lab=bg_lab, crown_y=crown,
                        reliable=median_resid <= p.busy_residual_de,
                        info={"border_residual_de": median_resid, "scale": scale, "person_de": person_de,
                              "frame": insets},
                        backdrop_de=de, model_lab=model, scale=scale, lab_small=small,
                        person_small=person_small.astype(bool), background_small=backdrop_small)


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
