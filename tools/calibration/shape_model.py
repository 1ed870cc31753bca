"""A smaller copy of dlib's 68-point landmark model, for the per-eye mirror fits.

dlib's ``shape_predictor_68_face_landmarks.dat`` is 15 cascades × 500 regression trees
(depth 4: 15 splits, 16 leaves of 136 floats).  A fit on a face not seen just before is
dominated by reading ~7500 cold leaves, so a model with fewer trees per cascade (the
first ``trees_per_cascade`` of each; optionally only the first ``cascades``) fits in a
fraction of the time.  Written to test whether ``eyes_open``'s two mirror fits could use
such a model (``eye_model_sweep.py``): they cannot.  Every variant with fewer trees per
cascade reads the Yale 03 shut eyes at or above the smallest open eye; ten cascades of
500 trees keep them apart with half the margin for 0.4 ms a fit.  QC keeps the full
model; this stays a calibration tool.

The serialized layout is dlib's (described in ``qc/shapefit.py``, whose ``read_int`` this
module uses); every parse verifies the counts and that it consumes exactly all bytes.
Truncating copies the byte ranges of the kept trees and rewrites the vector sizes.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qc.shapefit import read_int

SPLITS_PER_TREE = 15
LEAVES_PER_TREE = 16


# ------------------------------------------------------------------ integers
def write_int(v: int) -> bytes:
    """Encode one integer the way dlib does (minimal little-endian bytes; zero as one
    byte: dlib refuses a zero-length integer)."""
    neg = v < 0
    a = -v if neg else v
    body = a.to_bytes(max(1, (a.bit_length() + 7) // 8), "little")
    if len(body) > 8:
        raise ValueError(f"integer out of range: {v}")
    return bytes([len(body) | (0x80 if neg else 0)]) + body


def _skip(b: bytes, p: int, n: int) -> int:
    """Skip ``n`` integers from ``p`` (the hot loop: ~33 M integers in the 68-point model)."""
    for _ in range(n):
        p += 1 + (b[p] & 0x0F)
    return p


def write_float(x: float) -> bytes:
    """Encode a finite float as dlib's (mantissa, exponent) pair (used for synthetic files)."""
    import math  # noqa: PLC0415

    if x == 0.0:
        return write_int(0) + write_int(0)
    m, e = math.frexp(x)                 # x = m·2^e, 0.5 <= |m| < 1
    mant = int(m * (1 << 53))
    return write_int(mant) + write_int(e - 53)


# ------------------------------------------------------------------ layout
@dataclass(frozen=True)
class Layout:
    """Byte offsets of a parsed shape predictor file.

    ``forests_at``: offset of the forests' outer size.  ``trees[c]``: tree start offsets
    of cascade ``c`` plus the end of its last tree (``len == trees + 1``).
    ``anchor_at`` / ``anchors``: offset of anchor_idx's outer size and each item's
    ``(start, end)``; ``deltas_at`` / ``deltas`` likewise.
    """

    size: int
    forests_at: int
    trees: list[list[int]]
    anchor_at: int
    anchors: list[tuple[int, int]]
    deltas_at: int
    deltas: list[tuple[int, int]]
    n_landmark_values: int

    @property
    def cascades(self) -> int:
        return len(self.trees)

    @property
    def trees_per_cascade(self) -> list[int]:
        return [len(t) - 1 for t in self.trees]


def parse(b: bytes) -> Layout:
    """Walk the whole file, checking its structure; raise ``ValueError`` if it is not a
    depth-4 dlib shape predictor or if any byte is left over."""
    def expect(cond, msg):
        if not cond:
            raise ValueError(msg)

    p = 0
    version, p = read_int(b, p)
    expect(version == 1, f"unsupported shape_predictor version {version}")
    nr, p = read_int(b, p)
    nc, p = read_int(b, p)
    expect(nr < 0 and nc == -1, f"initial_shape: unexpected matrix header {nr}, {nc}")
    nvals = -nr
    p = _skip(b, p, 2 * nvals)
    forests_at = p
    n_casc, p = read_int(b, p)
    expect(0 < n_casc < 1000, f"forests: bad cascade count {n_casc}")
    trees: list[list[int]] = []
    for c in range(n_casc):
        n_trees, p = read_int(b, p)
        expect(0 < n_trees < 100000, f"cascade {c}: bad tree count {n_trees}")
        starts = []
        for t in range(n_trees):
            starts.append(p)
            ns, p = read_int(b, p)
            expect(ns == SPLITS_PER_TREE, f"cascade {c} tree {t}: {ns} splits")
            p = _skip(b, p, 4 * ns)
            nl, p = read_int(b, p)
            expect(nl == LEAVES_PER_TREE, f"cascade {c} tree {t}: {nl} leaves")
            for _ in range(nl):
                r, p = read_int(b, p)
                k, p = read_int(b, p)
                expect(r == nr and k == -1, f"cascade {c} tree {t}: leaf matrix {r}x{k}")
                p = _skip(b, p, 2 * nvals)
        starts.append(p)
        trees.append(starts)

    def items(p, per_item_ints):
        at = p
        n, p = read_int(b, p)
        expect(n == n_casc, f"{n} per-cascade items, expected {n_casc}")
        out = []
        for _ in range(n):
            s = p
            k, p = read_int(b, p)
            expect(0 <= k < 1000000, f"bad item count {k}")
            p = _skip(b, p, per_item_ints * k)
            out.append((s, p))
        return at, out, p

    anchor_at, anchors, p = items(p, 1)
    deltas_at, deltas, p = items(p, 4)
    expect(p == len(b), f"parse ended at byte {p} of {len(b)}")
    return Layout(len(b), forests_at, trees, anchor_at, anchors, deltas_at, deltas, nvals)


def truncate(b: bytes, layout: Layout, trees_per_cascade, cascades: int | None = None) -> bytes:
    """The file ``b`` keeping the first ``cascades`` cascades and the first
    ``trees_per_cascade`` trees of each (an int, or one count per kept cascade)."""
    if isinstance(trees_per_cascade, int):
        nc = layout.cascades if cascades is None else cascades
        counts = [trees_per_cascade] * max(nc, 0)
    else:
        counts = [int(t) for t in trees_per_cascade]
        nc = len(counts)
        if cascades is not None and cascades != nc:
            raise ValueError(f"{nc} tree counts given for {cascades} cascades")
    if not 1 <= nc <= layout.cascades:
        raise ValueError(f"cascades must be 1..{layout.cascades}, got {nc}")
    for c, t in enumerate(counts):
        if not 1 <= t <= layout.trees_per_cascade[c]:
            raise ValueError(f"cascade {c}: trees must be 1..{layout.trees_per_cascade[c]}, got {t}")
    mv = memoryview(b)
    out = [mv[:layout.forests_at], write_int(nc)]
    for starts, t in zip(layout.trees, counts):
        out += [write_int(t), mv[starts[0]:starts[t]]]
    out.append(write_int(nc))
    out += [mv[s:e] for s, e in layout.anchors[:nc]]
    out.append(write_int(nc))
    out += [mv[s:e] for s, e in layout.deltas[:nc]]
    return b"".join(out)


def build(src_path: str | os.PathLike, dst_path: str | os.PathLike, trees_per_cascade,
          cascades: int | None = None) -> Path:
    """Write the truncated model of ``src_path`` to ``dst_path`` (atomically: temp file in
    the same directory, then rename).  Returns ``dst_path``."""
    b = Path(src_path).read_bytes()
    data = truncate(b, parse(b), trees_per_cascade, cascades)
    dst = Path(dst_path)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dst.name + ".", suffix=".tmp", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dst


# ------------------------------------------------------------------ source
def source_path() -> Path:
    """The installed full 68-point model (face_recognition_models)."""
    import face_recognition_models  # noqa: PLC0415

    return Path(face_recognition_models.pose_predictor_model_location())
