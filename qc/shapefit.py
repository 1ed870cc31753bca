"""dlib's 68-point landmark model, evaluated by our own C loop: dlib's points, ~half the time.

QC fits the 68-point model three times a photo: once on the photo (the joint fit every
geometry check reads) and twice for ``eyes_open`` (a mirror-symmetric face per eye).
dlib's predictor walks the model one tree at a time: 15 cascades × 500 regression trees,
each a 4-deep split on two pixel intensities and a 16-leaf table of 136-float shape
updates (65 MB of leaves).  A fit on a face not seen just before waits on ~7 500 cache
misses one after another: ~2–2.5 ms of a QC run each.

``qc/_shapefit.c`` runs the same algorithm over flat arrays: per cascade it finds every
tree's leaf first, then adds the leaves in tree order while fetching a few trees ahead,
so the misses overlap.  Its arithmetic is dlib's step by step (see the C file), and
``tests/qc/test_shapefit.py`` checks every point against dlib's predictor on the corpus
faces, shifted boxes, boxes past the image edge, grey images and the mirror faces.

The model file is parsed once into arrays and kept in a cache directory
(``$KIOSK_CACHE_DIR``, else ``$XDG_CACHE_HOME/gradphoto-kiosk``, else
``~/.cache/gradphoto-kiosk``), keyed by the model file's size and a hash of its ends:
parsing takes seconds, loading the cached arrays milliseconds (memory-mapped, so
processes share the pages).  ``scripts/setup-env`` builds the C library and fills the
cache.  When the library is not built, the model does not parse or the cache cannot be
written, :func:`available` is false and :func:`qc.faces.landmarks_for` uses dlib's
predictor: the same points, slower.  ``KIOSK_SHAPEFIT=0`` forces dlib's.

The serialized layout (dlib's ``serialize``)::

    int version (1)
    matrix initial_shape            -nr, -nc, then nr*nc floats
    vector<vector<tree>> forests    size, then items
        tree = vector<split> splits (split = ulong idx1, ulong idx2, float thresh)
               vector<matrix> leaf_values
    vector<vector<ulong>> anchor_idx
    vector<vector<vector<float,2>>> deltas   (a 2-vector is two floats)

Every integer is a header byte (low nibble = number of little-endian bytes that follow,
0x80 = negative) and those bytes; a float is two integers (mantissa, exponent).
"""
from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["ShapeModel", "available", "fit", "parse_model", "cache_dir", "prepare"]

#: Bumped whenever the cached arrays' layout changes.
CACHE_FORMAT = 1
_LIB = Path(__file__).with_name("_shapefit.so")
_lock = threading.Lock()


# ------------------------------------------------------------------ parsing

def read_int(b: bytes, p: int) -> tuple[int, int]:
    """Decode one dlib integer at ``p``; returns ``(value, next position)``."""
    h = b[p]
    n = h & 0x0F
    if p + 1 + n > len(b):
        raise ValueError(f"truncated integer at byte {p}")
    v = int.from_bytes(b[p + 1:p + 1 + n], "little")
    return (-v if h & 0x80 else v), p + 1 + n


def _read_float(b: bytes, p: int) -> tuple[float, int]:
    m, p = read_int(b, p)
    e, p = read_int(b, p)
    return float(np.ldexp(np.float64(m), e)), p


# A float is nearly always a 24-bit mantissa (header 0x03, or 0x83 when negative) and a
# one-byte negative exponent (0x81 xx): six bytes.  Runs of such floats are decoded in
# one numpy pass; the few others (a shorter mantissa: ~0.4 % of the leaf values) one by
# one, and the run goes on after them.
_FLOAT6 = np.dtype([("mh", "u1"), ("m", "u1", (3,)), ("eh", "u1"), ("e", "u1")])


def _read_floats(b: bytes, p: int, out: np.ndarray) -> int:
    """Fill the float32 vector ``out`` with the next ``len(out)`` floats at ``p``;
    returns the position after them."""
    i, n = 0, len(out)
    while i < n:
        run = min(n - i, (len(b) - p) // _FLOAT6.itemsize)
        a = np.frombuffer(b, _FLOAT6, count=run, offset=p) if run > 0 else None
        k = 0
        if a is not None:
            bad = np.flatnonzero(((a["mh"] & 0x7F) != 3) | (a["eh"] != 0x81))
            k = int(bad[0]) if len(bad) else run
        if k:
            r = a[:k]
            m = r["m"].astype(np.int64)
            mant = m[:, 0] | (m[:, 1] << 8) | (m[:, 2] << 16)
            mant = np.where(r["mh"] & 0x80, -mant, mant)
            out[i:i + k] = np.ldexp(mant.astype(np.float64), -r["e"].astype(np.int64))
            i += k
            p += k * _FLOAT6.itemsize
        if i < n:
            out[i], p = _read_float(b, p)
            i += 1
    return p


@dataclass(frozen=True)
class ShapeModel:
    """A parsed dlib shape predictor as the C loop reads it.

    ``initial`` ``(V,)`` float32 (V = 2·points), ``ref`` ``(V,)`` float64 (the initial
    shape centred on its mean), ``ref_ss`` (its squared norm), ``idx1``/``idx2``
    ``(cascades, trees, splits)`` int32, ``thresh`` the same shape float32, ``leaves``
    ``(cascades, trees, splits + 1, V)`` float32, ``anchors`` ``(cascades, features)``
    int32, ``deltas`` ``(cascades, features, 2)`` float32.
    """

    initial: np.ndarray
    ref: np.ndarray
    ref_ss: float
    idx1: np.ndarray
    idx2: np.ndarray
    thresh: np.ndarray
    leaves: np.ndarray
    anchors: np.ndarray
    deltas: np.ndarray

    ARRAYS = ("initial", "ref", "idx1", "idx2", "thresh", "leaves", "anchors", "deltas")

    def __post_init__(self):
        # The C loop trusts these: an index out of range would read outside the arrays.
        # Checked on every load (a cache file could be damaged), ~1 ms.
        v = len(self.initial)
        c, t, s = self.idx1.shape
        f = self.anchors.shape[1] if self.anchors.ndim == 2 else -1
        want = {"initial": ((v,), np.float32), "ref": ((v,), np.float64), "idx1": ((c, t, s), np.int32),
                "idx2": ((c, t, s), np.int32), "thresh": ((c, t, s), np.float32),
                "leaves": ((c, t, s + 1, v), np.float32), "anchors": ((c, f), np.int32),
                "deltas": ((c, f, 2), np.float32)}
        for k, (shape, dtype) in want.items():
            a = getattr(self, k)
            if a.shape != shape or a.dtype != dtype or not a.flags.c_contiguous:
                raise ValueError(f"shape model: {k} is {a.dtype} {a.shape}, expected {np.dtype(dtype)} {shape}")
        if v < 2 or v % 2 or f < 1 or s < 1 or (s + 1) & s:
            raise ValueError("shape model: inconsistent sizes")
        for k, hi in (("idx1", f), ("idx2", f), ("anchors", v // 2)):
            a = getattr(self, k)
            if a.size and (int(a.min()) < 0 or int(a.max()) >= hi):
                raise ValueError(f"shape model: {k} out of range")
        if not self.ref_ss > 0:
            raise ValueError("shape model: degenerate initial shape")

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """``(cascades, trees, splits, values, features)``."""
        c, t, s = self.idx1.shape
        return c, t, s, len(self.initial), self.anchors.shape[1]


def parse_model(data: bytes) -> ShapeModel:
    """Parse a serialized dlib shape predictor; ``ValueError`` if ``data`` is not one
    this module can evaluate (or has bytes left over)."""
    def expect(cond, msg):
        if not cond:
            raise ValueError(msg)

    b = data
    try:
        version, p = read_int(b, 0)
        expect(version == 1, f"unsupported shape_predictor version {version}")
        nr, p = read_int(b, p)
        nc, p = read_int(b, p)
        expect(nr < 0 and nc == -1, f"initial_shape: unexpected matrix header {nr}, {nc}")
        n_vals = -nr
        expect(n_vals % 2 == 0, "initial_shape: odd length")
        initial = np.empty(n_vals, np.float32)
        p = _read_floats(b, p, initial)
        n_casc, p = read_int(b, p)
        expect(0 < n_casc < 1000, f"forests: bad cascade count {n_casc}")
        idx1, idx2, thresh, leaves = [], [], [], []
        n_splits = n_trees0 = None
        for c in range(n_casc):
            n_trees, p = read_int(b, p)
            expect(0 < n_trees < 100000, f"cascade {c}: bad tree count {n_trees}")
            n_trees0 = n_trees0 or n_trees
            expect(n_trees == n_trees0, f"cascade {c}: {n_trees} trees, cascade 0 has {n_trees0}")
            for t in range(n_trees):
                ns, p = read_int(b, p)
                if n_splits is None:
                    expect(0 < ns < 64 and (ns + 1) & ns == 0, f"trees of {ns} splits are not full binary trees")
                    n_splits = ns
                expect(ns == n_splits, f"cascade {c} tree {t}: {ns} splits, others have {n_splits}")
                if t == 0:
                    i1 = np.empty((n_trees, ns), np.int32)
                    i2 = np.empty((n_trees, ns), np.int32)
                    th = np.empty((n_trees, ns), np.float32)
                    lv = np.empty((n_trees, ns + 1, n_vals), np.float32)
                for s in range(ns):
                    i1[t, s], p = read_int(b, p)
                    i2[t, s], p = read_int(b, p)
                    th[t, s], p = _read_float(b, p)
                nl, p = read_int(b, p)
                expect(nl == ns + 1, f"cascade {c} tree {t}: {nl} leaves for {ns} splits")
                for k in range(nl):
                    r, p = read_int(b, p)
                    one, p = read_int(b, p)
                    expect(r == -n_vals and one == -1, f"cascade {c} tree {t}: leaf matrix {r}x{one}")
                    p = _read_floats(b, p, lv[t, k])
            idx1.append(i1)
            idx2.append(i2)
            thresh.append(th)
            leaves.append(lv)

        def per_cascade(p, reader):
            n, p = read_int(b, p)
            expect(n == n_casc, f"{n} per-cascade items, expected {n_casc}")
            out = []
            for _ in range(n):
                k, p = read_int(b, p)
                expect(0 <= k < 1000000, f"bad item count {k}")
                vals = []
                for _ in range(k):
                    v, p = reader(p)
                    vals.append(v)
                out.append(vals)
            return out, p

        anchors, p = per_cascade(p, lambda q: read_int(b, q))

        def pair(q):
            x, q = _read_float(b, q)
            y, q = _read_float(b, q)
            return (x, y), q

        deltas, p = per_cascade(p, pair)
    except IndexError:
        raise ValueError("truncated model file") from None
    expect(p == len(b), f"parse ended at byte {p} of {len(b)}")
    n_pts = n_vals // 2
    n_feat = len(anchors[0])
    for c in range(n_casc):
        expect(len(anchors[c]) == n_feat, f"cascade {c}: {len(anchors[c])} features, cascade 0 has {n_feat}")
        expect(len(deltas[c]) == n_feat, f"cascade {c}: {len(deltas[c])} deltas for {n_feat} anchors")
        expect(all(0 <= a < n_pts for a in anchors[c]), f"cascade {c}: anchor out of range")
        expect(int(max(idx1[c].max(), idx2[c].max())) < n_feat and int(min(idx1[c].min(), idx2[c].min())) >= 0,
               f"cascade {c}: split feature out of range")
    f = initial.reshape(-1, 2).astype(np.float64)
    ref = f - f.mean(axis=0)
    return ShapeModel(initial=initial, ref=np.ascontiguousarray(ref.ravel()), ref_ss=float((ref * ref).sum()),
                      idx1=np.stack(idx1), idx2=np.stack(idx2), thresh=np.stack(thresh), leaves=np.stack(leaves),
                      anchors=np.array(anchors, np.int32), deltas=np.array(deltas, np.float32).reshape(n_casc, -1, 2))


# ------------------------------------------------------------------ cache

def cache_dir() -> Path:
    """Where parsed models are kept (see the module docstring)."""
    env = os.environ.get("KIOSK_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gradphoto-kiosk"


def _model_path() -> Path:
    import face_recognition_models  # noqa: PLC0415

    return Path(face_recognition_models.pose_predictor_model_location())


def _entry(path: Path) -> Path:
    """The cache entry of a model file, keyed by its size and a hash of its first and last
    64 KiB (the trees at both ends): the same model installed in another environment (a
    new mtime) finds the same entry, and reading 128 KiB costs nothing next to parsing."""
    import hashlib  # noqa: PLC0415

    size = path.stat().st_size
    h = hashlib.sha256()
    with path.open("rb") as f:
        h.update(f.read(65536))
        f.seek(max(0, size - 65536))
        h.update(f.read(65536))
    return cache_dir() / f"shape{CACHE_FORMAT}-{path.stem}-{size}-{h.hexdigest()[:16]}"


def _load_cached(entry: Path) -> ShapeModel | None:
    try:
        meta = json.loads((entry / "meta.json").read_text())
        arrays = {k: np.load(entry / f"{k}.npy", mmap_mode="r") for k in ShapeModel.ARRAYS}
        return ShapeModel(ref_ss=float(meta["ref_ss"]), **arrays)
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        return None


def _store(entry: Path, m: ShapeModel) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
    try:
        for k in ShapeModel.ARRAYS:
            np.save(tmp / f"{k}.npy", getattr(m, k))
        (tmp / "meta.json").write_text(json.dumps({"ref_ss": m.ref_ss, "format": CACHE_FORMAT}))
        try:
            os.replace(tmp, entry)
        except OSError:
            if not (entry / "meta.json").exists():      # not another process's finished copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prepare(path: str | os.PathLike | None = None) -> ShapeModel | None:
    """The parsed model of ``path`` (default: face_recognition_models' 68-point model)
    from the cache, parsing and storing it first when needed; ``None`` when it cannot be
    read as a model this module evaluates."""
    p = Path(path) if path is not None else _model_path()
    try:
        entry = _entry(p)
    except OSError:
        return None
    m = _load_cached(entry)
    if m is not None:
        return m
    if entry.exists():
        log.warning("shapefit: damaged cache entry %s; parsing the model again", entry)
        shutil.rmtree(entry, ignore_errors=True)      # readers that mapped it keep their copy
    try:
        parsed = parse_model(p.read_bytes())
    except (OSError, ValueError) as e:
        log.warning("shapefit: %s does not parse as a shape predictor (%s); using dlib's", p, e)
        return None
    try:
        _store(entry, parsed)
    except OSError as e:
        log.warning("shapefit: cannot cache the parsed model in %s (%s)", entry.parent, e)
        return parsed
    return _load_cached(entry) or parsed


# ------------------------------------------------------------------ evaluation

@functools.cache
def _lib():
    """The C entry point, or ``None`` when the library is not built (remembered: the
    fallback path must not retry the load on every fit)."""
    try:
        lib = ctypes.CDLL(str(_LIB))
    except OSError:
        return None
    f = lib.shapefit
    f.restype = None
    vp, i, d = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
    f.argtypes = [i, i, i, i, i, vp, vp, d, vp, vp, vp, vp, vp, vp, vp, i, i, i, vp, vp, vp, vp, vp, vp]
    return f


@functools.cache
def _model() -> ShapeModel | None:
    return prepare()


def available() -> bool:
    """The C library is built and the 68-point model is parsed (cached): :func:`fit` works."""
    if os.environ.get("KIOSK_SHAPEFIT", "1") == "0":
        return False
    with _lock:
        return _lib() is not None and _model() is not None


_UNIT = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])


@functools.lru_cache(maxsize=256)
def _unnormalizing(rect: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The affine map of the unit square onto ``rect`` (dlib's inclusive corners), as dlib
    builds it: the least-squares map of (0,0), (1,0), (1,1) onto the top-left, top-right
    and bottom-right corners through a pseudo-inverse."""
    left, top, right, bottom = (float(v) for v in rect)
    q = np.array([[left, right, right], [top, top, bottom]])
    m = q @ np.linalg.pinv(_UNIT)
    am, ab = np.ascontiguousarray(m[:, :2].ravel()), np.ascontiguousarray(m[:, 2])
    am.setflags(write=False)
    ab.setflags(write=False)
    return am, ab


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


def fit(img: np.ndarray, rect: tuple[int, int, int, int], model: ShapeModel | None = None) -> np.ndarray:
    """The 68 points ``(68, 2)`` float64 ``(x, y)`` dlib's predictor gives for ``img``
    (``(H, W, 3)`` RGB or ``(H, W)`` grey, uint8) and the integer rectangle ``rect``
    ``(left, top, right, bottom)``.  Requires :func:`available` (or ``model``)."""
    m = model if model is not None else _model()
    if m is None or _lib() is None:
        raise RuntimeError("shapefit: the library is not built or the model is not parsed")
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"expected an 8-bit grey or RGB image, got {img.dtype} {img.shape}")
    img = np.ascontiguousarray(img)
    n_casc, n_trees, n_splits, n_vals, n_feat = m.shape
    am, ab = _unnormalizing(tuple(int(v) for v in rect))
    feat = np.empty(n_feat, np.float32)
    leaf_of = np.empty(n_trees, np.int32)
    shape = np.empty(n_vals, np.float32)
    out = np.empty(n_vals, np.float64)
    _lib()(n_casc, n_trees, n_splits, n_vals, n_feat,
           _ptr(m.initial), _ptr(m.ref), m.ref_ss, _ptr(m.idx1), _ptr(m.idx2), _ptr(m.thresh),
           _ptr(m.leaves), _ptr(m.anchors), _ptr(m.deltas),
           _ptr(img), img.shape[0], img.shape[1], 1 if img.ndim == 2 else 3,
           _ptr(am), _ptr(ab), _ptr(feat), _ptr(leaf_of), _ptr(shape), _ptr(out))
    return out.reshape(-1, 2)
