"""Person / backdrop split for ID-style photos, without a learned model.

No segmentation model is available offline here (OpenCV 5 ships none, mediapipe
downloads its models at run time), so the person is found as "what differs from the
backdrop": the backdrop colour is modelled from the image border (top band, and the
side bands above the chin) as a smooth quadratic surface per CIELAB channel, which
absorbs vignetting and soft gradients; pixels far from that surface (ΔE*ab) are person
candidates; the connected component under the face is kept and its holes filled.

Works on a ½- or ¼-scale copy (≤ 240 px wide), so it costs a few milliseconds.

Known limits: a busy backdrop (scene, logos) gives ``reliable=False``; hair of nearly
the backdrop colour is lost (the crown then reads low, which errs towards "too much
room above the head" — the safe side for the 头顶 rule).
"""
from __future__ import annotations

import numpy as np

from .context import Segmentation
from .faces import Face

#: ΔE*ab from the backdrop model above which a pixel is person.
PERSON_DE = 14.0
#: ΔE*ab below which a pixel is confidently backdrop.
BACKDROP_DE = 8.0
#: Median residual (ΔE) of the border samples above which the backdrop is "busy".
BUSY_RESIDUAL_DE = 6.0
WORK_WIDTH = 240


def _design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=1)


def segment_person(rgb: np.ndarray, lab: np.ndarray, face: Face | None) -> Segmentation:
    """Split ``rgb`` (``(H, W, 3)`` uint8, with its float32 ``lab``) into person and backdrop."""
    import cv2  # noqa: PLC0415

    h, w = rgb.shape[:2]
    step = max(1, int(round(w / WORK_WIDTH)))
    small = lab[::step, ::step]
    sh, sw = small.shape[:2]
    ys, xs = np.mgrid[0:sh, 0:sw]
    xn = xs / max(1, sw - 1) - 0.5
    yn = ys / max(1, sh - 1) - 0.5

    band = max(2, int(round(0.04 * sw)))
    top_band = max(2, int(round(0.04 * sh)))
    if face is not None:
        side_bottom = int(min(sh, max(top_band + 1, face.chin[1] / step)))
        fb = face.box.scaled(1.0 / step).clipped(sw, sh)
    else:
        side_bottom = int(0.6 * sh)
        fb = None
    sample = np.zeros((sh, sw), dtype=bool)
    sample[:top_band, :] = True
    sample[:side_bottom, :band] = True
    sample[:side_bottom, sw - band:] = True
    if fb is not None:
        # Never sample inside (a margin around) the face.
        mx, my = fb.width // 2, fb.height // 2
        sample[max(0, fb.top - my):fb.bottom, max(0, fb.left - mx):fb.right + mx] = False

    X = _design(xn[sample], yn[sample])
    coeffs = []
    resid_total = np.zeros(int(sample.sum()), dtype=np.float64)
    for c in range(3):
        v = small[..., c][sample].astype(np.float64)
        keep = np.ones(len(v), dtype=bool)
        beta = np.zeros(6)
        for _ in range(3):  # trimmed least squares: drop the worst 20 % each round
            beta, *_ = np.linalg.lstsq(X[keep], v[keep], rcond=None)
            r = np.abs(X @ beta - v)
            if keep.sum() > 30:
                keep = r <= np.quantile(r, 0.8)
        coeffs.append(beta)
        resid_total += (X @ beta - v) ** 2
    resid = np.sqrt(resid_total)
    median_resid = float(np.median(resid)) if len(resid) else 99.0

    D = _design(xn.ravel(), yn.ravel())
    model = np.stack([(D @ b).reshape(sh, sw) for b in coeffs], axis=-1).astype(np.float32)
    de = np.sqrt(((small - model) ** 2).sum(axis=-1))
    bg_lab = tuple(float(np.median(small[..., c][sample])) for c in range(3))

    cand = (de > PERSON_DE).astype(np.uint8)
    if fb is not None:
        cand[fb.top:fb.bottom, fb.left:fb.right] = 1
    kernel = np.ones((3, 3), np.uint8)
    cand = cv2.morphologyEx(cand, cv2.MORPH_OPEN, kernel)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    person_small = np.zeros((sh, sw), dtype=np.uint8)
    if n > 1:
        if fb is not None:
            cy, cx = int((fb.top + fb.bottom) // 2), int((fb.left + fb.right) // 2)
            lab_id = labels[min(sh - 1, cy), min(sw - 1, cx)]
            ids = {lab_id} if lab_id != 0 else set()
        else:
            ids = set()
        if not ids:
            # Largest component touching the bottom edge (a body), else the largest.
            bottom_ids = [i for i in range(1, n) if stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] >= sh]
            pool = bottom_ids or list(range(1, n))
            ids = {max(pool, key=lambda i: stats[i, cv2.CC_STAT_AREA])}
        for i in ids:
            person_small[labels == i] = 1
        # Fill holes: background is what the border flood-fill reaches.
        inv = (1 - person_small).astype(np.uint8)
        padded = np.pad(inv, 1, constant_values=1)
        ff = np.zeros((sh + 4, sw + 4), np.uint8)
        cv2.floodFill(padded, ff, (0, 0), 2)
        holes = padded[1:-1, 1:-1] == 1
        person_small[holes] = 1

    person = cv2.resize(person_small, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    backdrop_small = (de < BACKDROP_DE) & (person_small == 0)
    background = cv2.resize(backdrop_small.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)

    crown = None
    if person.any():
        if face is not None:
            cx = face.box.centre[0]
            half = 0.8 * face.box.width
            x0, x1 = int(max(0, cx - half)), int(min(w, cx + half))
        else:
            x0, x1 = 0, w
        span = person[:, x0:x1]
        need = max(2, int(0.02 * (x1 - x0)))
        rows = np.nonzero(span.sum(axis=1) >= need)[0]
        if len(rows):
            crown = int(rows[0])
    return Segmentation(person=person, background=background, bg_lab=bg_lab, crown_y=crown,
                        reliable=median_resid <= BUSY_RESIDUAL_DE,
                        info={"border_residual_de": median_resid, "scale": step})
