"""The same face, or the same photograph, under two students (issue 8).

Two kinds of match between approved photos of *different* students (a different 学号,
and not the same 身份证号 under a new 学号 in another term):

``file``  the same photograph: identical bytes (SHA-256 of the spec photo or of the file
          as received), or a near-identical copy — face hashes (:mod:`qc.phash`) at most
          :data:`PHASH_MAX_BITS` apart **and** faces at most :data:`FACE_MAX` apart
          (a copy of one shot always shows the same face; requiring both keeps the hash's
          rare collisions between look-alike compositions out).
``face``  the same person, different photographs: face encodings at most :data:`FACE_MAX`
          apart.

A pair is reported once, with the more specific kind (``file`` over ``face``).  Review
items are opened for **both** students (kinds ``duplicate_file`` / ``duplicate_face``,
status ``open``; the batch builder holds every student with such an open item out of
batches), and never twice for the same two photos.

Thresholds (see ``tools/calibration/`` and the README):

* :data:`FACE_MAX` = 0.45, from the identity calibration: every same-shot pair (≤ 0.31)
  and same-sitting pair (≤ 0.33) of the corpus, 88 % of all same-person pairs, none of
  1 319 impostor pairs (lowest 0.614) nor of the look-alikes (lowest 0.684).  Stricter
  than the 1:1 ``identity_match`` pass limit (0.50) because a duplicate search makes one
  comparison per stored photo: its false matches grow with the term's size.
* :data:`PHASH_MAX_BITS` = 8: 99.5 % of same-photo pairs (re-encoded, rescaled, cropped,
  mirrored, re-framed as spec photos) and none of 1 462 pairs of different people, the
  lowest at 10 bits (``tools/calibration/out/phash_table.csv``).

The term scan (:func:`scan_term`) is blockwise: encodings are a float32 ``(N, 128)``
matrix; tiles of ``block_rows × block_cols`` scores ``S = [x, 1]·[y, −‖y‖²/2]ᵀ`` are
compared with ``‖x‖²/2 − t²/2`` (one GEMM and one comparison per tile; only the upper
triangle), so memory stays at one tile (64 MiB by default) whatever ``N`` is; and it
keeps each photo's :data:`SCAN_NEIGHBOURS` nearest matches (:func:`nearest_pairs`) with a
count of the rest, so one face under every 学号 costs O(N) pairs, not N²/2.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ..models import Photo, PhotoStatus, ReviewItem, ReviewKind, Student, Term, User
from . import audit
from .photos import encoding_array, encoding_bytes

log = logging.getLogger(__name__)

#: Face-encoding distance at or below which two students' photos show the same person.
FACE_MAX = 0.45
#: Face-hash Hamming distance (bits, mirror included) at or below which two photos are one photograph.
PHASH_MAX_BITS = 8
#: Tile of the blockwise scan: rows × columns of float32 scores (1 024 × 16 384 = 64 MiB).
BLOCK_ROWS = 1024
BLOCK_COLS = 16384
#: ``Photo.face_encoding`` value meaning "looked: no single face" (so nobody looks again).
NO_FACE = b""

#: Review items opened per photo by one check.  A face found under dozens of 学号 (a
#: delivery that reused one photo for everybody, a test series) gives each photo its
#: nearest matches — every student involved is still held, and the item says how many
#: more photos matched — instead of n² items nobody can work through.
MAX_PAIRS_PER_PHOTO = 3
#: Matches a scan keeps per photo and side (the nearest); bounds a scan's memory at
#: O(photos × this) however many photos share one face.
SCAN_NEIGHBOURS = 8

DUPLICATE_KINDS = (ReviewKind.DUPLICATE_FACE.value, ReviewKind.DUPLICATE_FILE.value)


# --------------------------------------------------------------------------- the numeric core
def _candidates(x: np.ndarray, y: np.ndarray, same: bool, threshold: float, block_rows: int,
                block_cols: int):
    """The tile loop shared by :func:`face_pairs` and :func:`nearest_pairs`: yields, for
    each row of ``x`` with candidates in a tile, ``(row, cols, d2)`` — the row's index,
    the candidate columns of ``y`` (``j > row`` when ``same``) and their squared distances
    from the tile's scores (float32 expanded form; a small slack keeps borderline pairs,
    callers decide exactly).  Extra memory: one tile."""
    n, m = len(x), len(y)
    t2 = np.float32(threshold) ** 2
    hx = 0.5 * np.einsum("ij,ij->i", x, x)
    hy = 0.5 * np.einsum("ij,ij->i", y, y)
    # Augmented so one GEMM gives x·y − ‖y‖²/2 (no extra pass over the tile).
    xa = np.empty((n, x.shape[1] + 1), np.float32)
    xa[:, :-1] = x
    xa[:, -1] = 1.0
    ya = np.empty((m, y.shape[1] + 1), np.float32)
    ya[:, :-1] = y
    ya[:, -1] = -hy
    # d² ≤ t²  ⇔  x·y − ‖y‖²/2 ≥ ‖x‖²/2 − t²/2.
    cut = (hx - 0.5 * t2 - 1e-4).astype(np.float32)
    tile = np.empty((min(block_rows, n), min(block_cols, m)), np.float32)
    rowmax = np.empty(min(block_rows, n), np.float32)
    for i0 in range(0, n, block_rows):
        i1 = min(n, i0 + block_rows)
        j_start = i0 if same else 0
        for j0 in range(j_start, m, block_cols):
            j1 = min(m, j0 + block_cols)
            s = tile[: i1 - i0, : j1 - j0]
            np.matmul(xa[i0:i1], ya[j0:j1].T, out=s)
            if same and j0 < i1:
                # Where the tile touches the diagonal keep j > i only.
                r_, c_ = np.tril_indices(i1 - i0, k=i0 - j0, m=j1 - j0)
                s[r_, c_] = -np.inf
            # Matches are rare: one reduction finds the rows that have any, and only those
            # rows are compared element by element (no full boolean tile is written).
            c = cut[i0:i1]
            np.max(s, axis=1, out=rowmax[: i1 - i0])
            for r in np.nonzero(rowmax[: i1 - i0] >= c)[0]:
                cols = np.nonzero(s[r] >= c[r])[0]
                d2 = np.maximum(2.0 * (hx[i0 + r] - s[r, cols]), 0.0).astype(np.float32)
                yield int(i0 + r), cols + j0, d2


def _exact(x: np.ndarray, y: np.ndarray, i: np.ndarray, j: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Exact float32 distances of the pairs ``(x[i], y[j])``, in bounded chunks."""
    out = np.empty(len(i), np.float32)
    for a in range(0, len(i), chunk):
        diff = x[i[a:a + chunk]] - y[j[a:a + chunk]]
        out[a:a + chunk] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


def _prepare(x, y):
    x = np.ascontiguousarray(x, dtype=np.float32)
    same = y is None
    return x, (x if same else np.ascontiguousarray(y, dtype=np.float32)), same


_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))


def face_pairs(x: np.ndarray, threshold: float = FACE_MAX, *, y: np.ndarray | None = None,
               block_rows: int = BLOCK_ROWS, block_cols: int = BLOCK_COLS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """*Every* pair of encodings at most ``threshold`` apart, scanned in bounded tiles.

    The output grows with the number of pairs — n² / 2 when one face is under all of
    them; the service's scans use :func:`nearest_pairs`, which is bounded whatever the data.

    Parameters
    ----------
    x : numpy.ndarray
        ``(N, D)`` encodings (converted to float32).
    threshold : float
        Euclidean distance limit.
    y : numpy.ndarray, optional
        ``(M, D)``: compare every row of ``x`` with every row of ``y`` instead of all
        pairs ``i < j`` within ``x``.
    block_rows, block_cols : int
        Tile size; peak extra memory ≈ ``block_rows × block_cols × 5`` bytes.

    Returns
    -------
    (i, j, d) : tuple of numpy.ndarray
        Indices into ``x`` (and ``y``, or ``x`` again with ``i < j``) and the float32
        distances, sorted by ``(i, j)``.
    """
    x, y, same = _prepare(x, y)
    if len(x) == 0 or len(y) == 0:
        return _EMPTY
    out_i, out_j, out_d = [], [], []
    for r, cols, _d2 in _candidates(x, y, same, threshold, block_rows, block_cols):
        d = _exact(x, y, np.full(len(cols), r, np.int64), cols)
        keep = d <= threshold
        out_i.append(np.full(int(keep.sum()), r, np.int64))
        out_j.append(cols[keep])
        out_d.append(d[keep])
    if not out_i:
        return _EMPTY
    i, j, d = np.concatenate(out_i), np.concatenate(out_j).astype(np.int64), np.concatenate(out_d)
    order = np.lexsort((j, i))
    return i[order], j[order], d[order].astype(np.float32)


@dataclass(frozen=True)
class Neighbours:
    """What :func:`nearest_pairs` found: the kept pairs ``(i, j, d)`` (sorted, exact
    distances) and, per row of ``x`` and of ``y``, how many encodings matched it in all
    (from the scan's expanded-form distances; within ``x`` both sides of a pair count)."""

    i: np.ndarray
    j: np.ndarray
    d: np.ndarray
    total_x: np.ndarray
    total_y: np.ndarray


def nearest_pairs(x: np.ndarray, threshold: float = FACE_MAX, k: int = 8, *, y: np.ndarray | None = None,
                  block_rows: int = BLOCK_ROWS, block_cols: int = BLOCK_COLS) -> Neighbours:
    """Pairs within ``threshold``, at most about ``k + 1`` per encoding: each row's ``k``
    nearest matches among the rows it is compared with, and each column's nearest row (so
    every encoding that matches anything is in a kept pair), with the total number of
    matches per encoding.

    Memory is O(N·k + tile) whatever the data: one face under every 学号 of a term (a
    test delivery, a unit reusing one photo) costs n·k pairs, not n²/2.
    """
    x, y, same = _prepare(x, y)
    n, m = len(x), len(y)
    zeros_x, zeros_y = np.zeros(n, np.int64), np.zeros(m, np.int64)
    if n == 0 or m == 0 or k < 1:
        return Neighbours(*_EMPTY, zeros_x, zeros_y)
    t2 = np.float32(threshold) ** 2
    best_j = np.full((n, k), -1, np.int64)
    best_d = np.full((n, k), np.inf, np.float32)
    col_i = np.full(m, -1, np.int64)
    col_d = np.full(m, np.inf, np.float32)
    tot_x, tot_y = zeros_x, zeros_y
    for r, cols, d2 in _candidates(x, y, same, threshold, block_rows, block_cols):
        hit = d2 <= t2
        tot_x[r] += int(hit.sum())
        tot_y[cols[hit]] += 1
        cd = np.concatenate([best_d[r], d2])
        cj = np.concatenate([best_j[r], cols])
        sel = np.argpartition(cd, k - 1)[:k]
        best_d[r], best_j[r] = cd[sel], cj[sel]
        closer = d2 < col_d[cols]
        col_d[cols[closer]] = d2[closer]
        col_i[cols[closer]] = r
    pi = np.concatenate([np.repeat(np.arange(n, dtype=np.int64), k), col_i])
    pj = np.concatenate([best_j.ravel(), np.arange(m, dtype=np.int64)])
    ok = (pi >= 0) & (pj >= 0)
    key = np.unique(pi[ok] * m + pj[ok])
    pi, pj = key // m, key % m
    d = _exact(x, y, pi, pj)
    keep = d <= threshold
    if same:
        tot_x = tot_x + tot_y
        tot_y = tot_x
    return Neighbours(pi[keep], pj[keep], d[keep], tot_x, tot_y)


def naive_pairs(x: np.ndarray, threshold: float = FACE_MAX) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The straightforward way, for the benchmark's baseline: for each encoding, float64
    Euclidean distances to every later one (what ``face_recognition.face_distance`` does)."""
    x = np.asarray(x, dtype=np.float64)
    out_i, out_j, out_d = [], [], []
    for a in range(len(x) - 1):
        d = np.linalg.norm(x[a + 1:] - x[a], axis=1)
        hit = np.nonzero(d <= threshold)[0]
        if len(hit):
            out_i.append(np.full(len(hit), a))
            out_j.append(hit + a + 1)
            out_d.append(d[hit])
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return (np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d).astype(np.float32))


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class PhotoRow:
    """An approved photo with what the search needs (no image bytes)."""

    photo_id: int
    student_id: int
    term_id: int
    term_code: str
    xh: str
    name: str
    id_number: str
    centre_id: int | None
    sha256: str | None
    original_sha256: str | None
    encoding: np.ndarray | None = field(compare=False, repr=False)
    phash: int | None = None

    def files(self) -> set[str]:
        return {h for h in (self.sha256, self.original_sha256) if h}


@dataclass(frozen=True)
class Match:
    """Two approved photos of different students that show the same face or the same file.

    ``distance`` is what decided the kind: the face-encoding distance for ``face``; for
    ``file`` the face-hash Hamming distance in bits (0 for identical bytes).
    """

    a: PhotoRow
    b: PhotoRow
    kind: str                       # "face" | "file"
    face_distance: float | None
    bits: int | None
    exact: bool

    @property
    def distance(self) -> float:
        if self.kind == "file":
            return 0.0 if self.exact else float(self.bits if self.bits is not None else 0)
        return round(float(self.face_distance), 4)

    @property
    def review_kind(self) -> str:
        return ReviewKind.DUPLICATE_FILE.value if self.kind == "file" else ReviewKind.DUPLICATE_FACE.value

    def to_dict(self) -> dict[str, Any]:
        return {"xh_a": self.a.xh, "xh_b": self.b.xh, "distance": self.distance, "kind": self.kind,
                "term_a": self.a.term_code, "term_b": self.b.term_code,
                "name_a": self.a.name, "name_b": self.b.name,
                "photo_a": self.a.photo_id, "photo_b": self.b.photo_id,
                "face_distance": None if self.face_distance is None else round(float(self.face_distance), 4),
                "bits": self.bits, "exact": self.exact}


def unrelated(a: PhotoRow, b: PhotoRow) -> bool:
    """Whether a match between ``a`` and ``b`` means anything: different students that are
    not the same person on record (same 学号 in another term, or the same 身份证号)."""
    if a.student_id == b.student_id or a.xh == b.xh:
        return False
    return not (a.id_number and a.id_number == b.id_number)


def approved_rows(session: Session, *, term_ids: Iterable[int] | None = None,
                  photo_ids: Iterable[int] | None = None) -> list[PhotoRow]:
    """Approved photos (of the given terms / photo ids; all when ``None``), ordered by id."""
    stmt = (select(Photo.id, Photo.student_id, Student.term_id, Term.code, Student.xh, Student.name,
                   Student.id_number, Student.centre_id, Photo.sha256, Photo.original_sha256,
                   Photo.face_encoding, Photo.phash)
            .join(Student, Photo.student_id == Student.id).join(Term, Student.term_id == Term.id)
            .where(Photo.status == PhotoStatus.APPROVED.value))
    if term_ids is not None:
        stmt = stmt.where(Student.term_id.in_(list(term_ids)))
    if photo_ids is not None:
        stmt = stmt.where(Photo.id.in_(list(photo_ids)))
    rows = []
    for r in session.execute(stmt.order_by(Photo.id)):
        enc = encoding_array(r[10])
        rows.append(PhotoRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                             enc if enc is not None and enc.shape == (128,) else None, r[11]))
    return rows


def _row_for(session: Session, photo: Photo) -> PhotoRow:
    st = photo.student
    enc = encoding_array(photo.face_encoding)
    return PhotoRow(photo.id, st.id, st.term_id, st.term.code, st.xh, st.name, st.id_number, st.centre_id,
                    photo.sha256, photo.original_sha256,
                    enc if enc is not None and enc.shape == (128,) else None, photo.phash)


# --------------------------------------------------------------------------- face data
def face_data_from(ctx) -> tuple[np.ndarray | None, int | None]:
    """``(encoding, phash)`` of a :class:`qc.context.PhotoContext` with exactly one face,
    else ``(None, None)``.  The encoding is the context's own (computed once)."""
    from qc.phash import face_phash  # noqa: PLC0415

    if ctx.decode_error is not None or ctx.face is None:
        return None, None
    enc = ctx.encoding
    try:
        ph = face_phash(ctx.rgb, ctx.face)
    except ValueError:
        ph = None
    return enc, ph


def store_for(session: Session):
    """The photo store: ``session.info["kiosk_store"]``, else the current app's, else ``None``."""
    st = session.info.get("kiosk_store")
    if st is not None:
        return st
    try:
        from flask import current_app, has_app_context  # noqa: PLC0415

        if has_app_context():
            return current_app.extensions.get("kiosk_store")
    except ImportError:  # pragma: no cover
        pass
    return None


def ensure_face_data(session: Session, photo: Photo, store=None, *, need_phash: bool = False) -> bool:
    """Compute and keep ``photo.face_encoding`` (and with ``need_phash`` ``photo.phash``)
    when missing.

    The search needs only the encoding; the face hash only tells "same photograph" from
    "same person" once two photos already match by face, so it is computed then (a photo
    recorded with both — :func:`kiosk.services.identity.after_check` with its context —
    never needs a decode here).  Returns ``True`` when the photo has an encoding
    afterwards.  A photo with no single face keeps :data:`NO_FACE` so it is not decoded
    again.  Never raises for a missing or unreadable file (logged; the photo then takes
    part through its SHA-256 only).
    """
    has_enc = photo.face_encoding is not None
    if has_enc and (photo.face_encoding == NO_FACE or not need_phash or photo.phash is not None):
        return photo.face_encoding != NO_FACE
    if photo.sha256 is None:
        return False
    store = store or store_for(session)
    if store is None:
        log.warning("photo %s has no face data and no photo store is reachable", photo.id)
        return photo.face_encoding not in (None, NO_FACE)
    from ..store import StoreError  # noqa: PLC0415

    try:
        data = store.get(photo.sha256)
    except StoreError as e:
        log.warning("photo %s: %s; it takes part through its SHA-256 only", photo.id, e)
        return photo.face_encoding not in (None, NO_FACE)
    try:
        import qc  # noqa: PLC0415
        from qc.context import PhotoContext  # noqa: PLC0415

        prof = qc.load_profile(photo.profile or "chsi_xueli_v1")
        # Spec photos carry a large face: the cheap detection pass finds it; no fallback.
        det = dataclasses.replace(prof.detection, fallback_upsample=prof.detection.upsample)
        ctx = PhotoContext(data, detection=det)
        if has_enc:
            _, photo.phash = face_data_from_phash_only(ctx)
        else:
            enc, ph = face_data_from(ctx)
            photo.face_encoding = encoding_bytes(enc) if enc is not None else NO_FACE
            photo.phash = ph
    except Exception:  # noqa: BLE001 - a bad file must not block an approval
        log.exception("face data for photo %s could not be computed", photo.id)
        return photo.face_encoding not in (None, NO_FACE)
    session.flush()
    return photo.face_encoding not in (None, NO_FACE)


def _with_hashes(session: Session, matches: list[Match], store=None, *, face_max: float = FACE_MAX,
                 phash_max: int = PHASH_MAX_BITS) -> list[Match]:
    """Face matches whose photos lack a face hash: compute the hashes (stored) and classify
    again, so a copy of one photograph is reported as ``file`` rather than ``face``."""
    out = []
    for m in matches:
        if m.kind == "face" and (m.a.phash is None or m.b.phash is None):
            rows = []
            for r in (m.a, m.b):
                if r.phash is None:
                    p = session.get(Photo, r.photo_id)
                    ensure_face_data(session, p, store, need_phash=True)
                    r = dataclasses.replace(r, phash=p.phash)
                rows.append(r)
            m = _classify(rows[0], rows[1], m.face_distance, face_max, phash_max) or m
        out.append(m)
    return out


def face_data_from_phash_only(ctx) -> tuple[None, int | None]:
    """The face hash of a context (no encoding), ``None`` without a single face."""
    from qc.phash import face_phash  # noqa: PLC0415

    if ctx.decode_error is not None or ctx.face is None:
        return None, None
    try:
        return None, face_phash(ctx.rgb, ctx.face)
    except ValueError:
        return None, None


# --------------------------------------------------------------------------- matching
def _classify(a: PhotoRow, b: PhotoRow, d: float | None, face_max: float, phash_max: int) -> Match | None:
    from qc.phash import hamming  # noqa: PLC0415

    exact = bool(a.files() & b.files())
    bits = hamming(a.phash, b.phash) if a.phash is not None and b.phash is not None else None
    if exact:
        return Match(a, b, "file", d, 0 if bits is None else bits, True)
    if d is None or d > face_max:
        return None
    if bits is not None and bits <= phash_max:
        return Match(a, b, "file", d, bits, False)
    return Match(a, b, "face", d, bits, False)


def _distance(a: PhotoRow, b: PhotoRow) -> float | None:
    if a.encoding is None or b.encoding is None:
        return None
    return float(np.linalg.norm(a.encoding.astype(np.float32) - b.encoding.astype(np.float32)))


def matches_for(row: PhotoRow, others: list[PhotoRow], *, face_max: float = FACE_MAX,
                phash_max: int = PHASH_MAX_BITS) -> list[Match]:
    """Matches of one photo against ``others`` (one vectorised query, ~1.5 ms per 100 000)."""
    from qc.faces import distances  # noqa: PLC0415

    cands = [o for o in others if unrelated(row, o)]
    out: dict[int, Match] = {}
    files = row.files()
    for o in cands:
        if files & o.files():
            m = _classify(row, o, _distance(row, o), face_max, phash_max)
            out[o.photo_id] = m
    if row.encoding is not None:
        with_enc = [o for o in cands if o.encoding is not None and o.photo_id not in out]
        if with_enc:
            d = distances(np.stack([o.encoding for o in with_enc]), row.encoding)
            for k in np.nonzero(d <= face_max)[0]:
                o = with_enc[int(k)]
                m = _classify(row, o, float(d[k]), face_max, phash_max)
                if m is not None:
                    out[o.photo_id] = m
    return sorted(out.values(), key=lambda m: (m.kind != "file", m.distance, m.b.photo_id))


@dataclass
class ScanResult:
    term: str
    photos: int                      # approved photos of the term
    compared_with: int               # approved photos of other terms
    computed: int                    # encodings computed during the scan
    without_face: int                # photos taking part through their SHA-256 only
    matches: list[Match]             # the nearest SCAN_NEIGHBOURS per photo and side
    elapsed_s: float = 0.0
    totals: Counter = field(default_factory=Counter)   # photo id → photos that matched it in all

    def to_dict(self) -> dict[str, Any]:
        return {"term": self.term, "pairs": [m.to_dict() for m in self.matches],
                "summary": {"photos": self.photos, "other_terms_photos": self.compared_with,
                            "computed": self.computed, "without_face": self.without_face,
                            "face": sum(m.kind == "face" for m in self.matches),
                            "file": sum(m.kind == "file" for m in self.matches),
                            "photos_matched": len(self.totals),
                            "pairs_not_listed": max(0, sum(self.totals.values()) // 2 - len(self.matches)),
                            "elapsed_s": round(self.elapsed_s, 2)}}


def scan_rows(rows: list[PhotoRow], others: list[PhotoRow] = (), *, face_max: float = FACE_MAX,
              phash_max: int = PHASH_MAX_BITS, neighbours: int = SCAN_NEIGHBOURS, block_rows: int = BLOCK_ROWS,
              block_cols: int = BLOCK_COLS) -> tuple[list[Match], Counter]:
    """Matches within ``rows`` and between ``rows`` and ``others`` (blockwise), at most
    about ``neighbours`` per photo and side — the nearest — so that one face or one file
    under thousands of 学号 costs thousands of matches, not millions.

    Returns the matches and, per photo id, how many photos matched it in all (identical
    files or faces, whichever is more), which is what :func:`cap_matches` reports as
    "more matches".
    """
    found: dict[tuple[int, int], Match] = {}
    face_total: Counter = Counter()
    file_total: Counter = Counter()

    def add(a: PhotoRow, b: PhotoRow, d: float | None):
        if not unrelated(a, b):
            return
        key = (min(a.photo_id, b.photo_id), max(a.photo_id, b.photo_id))
        if key in found:
            return
        m = _classify(a, b, d, face_max, phash_max)
        if m is not None:
            found[key] = m

    # Exact files: group by hash; each photo of the term is paired with the next
    # ``neighbours`` photos of its group (the term's photos first), every member counted.
    by_file: dict[str, list[PhotoRow]] = {}
    for r in list(rows) + list(others):
        for h in r.files():
            by_file.setdefault(h, []).append(r)
    own = {r.photo_id for r in rows}
    for group in by_file.values():
        if len(group) < 2 or not any(r.photo_id in own for r in group):
            continue
        group = sorted(group, key=lambda r: (r.photo_id not in own, r.photo_id))
        for r in group:
            file_total[r.photo_id] = max(file_total[r.photo_id], len(group) - 1)
        for x, a in enumerate(group):
            if a.photo_id not in own:
                break
            for b in group[x + 1: x + 1 + neighbours]:
                add(a, b, _distance(a, b))
    # Faces: blockwise within the term, then the term against the others.
    er = [r for r in rows if r.encoding is not None]
    eo = [r for r in others if r.encoding is not None]
    if er:
        x = np.stack([r.encoding for r in er]).astype(np.float32)
        nb = nearest_pairs(x, face_max, neighbours, block_rows=block_rows, block_cols=block_cols)
        for i, j, d in zip(nb.i, nb.j, nb.d):
            add(er[int(i)], er[int(j)], float(d))
        for r, t in zip(er, nb.total_x):
            face_total[r.photo_id] += int(t)
        if eo:
            y = np.stack([r.encoding for r in eo]).astype(np.float32)
            nb = nearest_pairs(x, face_max, neighbours, y=y, block_rows=block_rows, block_cols=block_cols)
            for i, j, d in zip(nb.i, nb.j, nb.d):
                add(er[int(i)], eo[int(j)], float(d))
            for r, t in zip(er, nb.total_x):
                face_total[r.photo_id] += int(t)
            for r, t in zip(eo, nb.total_y):
                face_total[r.photo_id] += int(t)
    totals = Counter({pid: max(face_total[pid], file_total[pid]) for pid in set(face_total) | set(file_total)})
    totals = +totals
    return sorted(found.values(), key=lambda m: (m.a.xh, m.b.xh, m.kind)), totals


def scan_term(session: Session, term: Term, *, store=None, other_terms: bool = True,
              compute_missing: bool = True, face_max: float = FACE_MAX, phash_max: int = PHASH_MAX_BITS,
              block_rows: int = BLOCK_ROWS, block_cols: int = BLOCK_COLS, progress=None) -> ScanResult:
    """Every match among the approved photos of ``term`` and against other terms' approved photos.

    Photos without face data get it computed once and stored (``compute_missing``).
    """
    import time  # noqa: PLC0415

    t0 = time.perf_counter()
    computed = 0
    if compute_missing:
        missing = session.scalars(select(Photo).join(Student).where(
            Student.term_id == term.id, Photo.status == PhotoStatus.APPROVED.value,
            Photo.face_encoding.is_(None))).all()
        for k, p in enumerate(missing):
            ensure_face_data(session, p, store)
            computed += 1
            if progress:
                progress(k + 1, len(missing))
    rows = approved_rows(session, term_ids=[term.id])
    others = []
    if other_terms:
        others = [r for r in approved_rows(session) if r.term_id != term.id]
    matches, totals = scan_rows(rows, others, face_max=face_max, phash_max=phash_max, block_rows=block_rows,
                                block_cols=block_cols)
    if compute_missing:
        matches = _with_hashes(session, matches, store, face_max=face_max, phash_max=phash_max)
    return ScanResult(term=term.code, photos=len(rows), compared_with=len(others), computed=computed,
                      without_face=sum(r.encoding is None for r in rows), matches=matches,
                      elapsed_s=time.perf_counter() - t0, totals=totals)


# --------------------------------------------------------------------------- review items
def pair_items(session: Session, photo_a: int, photo_b: int, *, status: str | None = None) -> list[ReviewItem]:
    """Duplicate review items about the two photos (either direction)."""
    stmt = select(ReviewItem).where(
        ReviewItem.kind.in_(DUPLICATE_KINDS),
        or_(and_(ReviewItem.photo_id == photo_a, ReviewItem.other_photo_id == photo_b),
            and_(ReviewItem.photo_id == photo_b, ReviewItem.other_photo_id == photo_a)))
    if status is not None:
        stmt = stmt.where(ReviewItem.status == status)
    return list(session.scalars(stmt.order_by(ReviewItem.id)))


def cap_matches(matches: Iterable[Match], per_photo: int = MAX_PAIRS_PER_PHOTO,
                totals: Counter | None = None) -> tuple[list[Match], Counter]:
    """The matches worth a review item: same files first, then the nearest faces, while
    both photos of the pair have fewer than ``per_photo`` kept pairs; then every photo
    left without any pair gets its nearest one (so every student involved is held).
    Returns the kept matches and, per photo id, how many of its matches were left out
    (against ``totals`` — a scan's count of all matches per photo — where that is more)."""
    order = sorted(matches, key=lambda m: (m.kind != "file", not m.exact, m.distance))
    kept_ids: set[int] = set()
    count: Counter = Counter()
    total: Counter = Counter()
    for k, m in enumerate(order):
        a, b = m.a.photo_id, m.b.photo_id
        total[a] += 1
        total[b] += 1
        if count[a] < per_photo and count[b] < per_photo:
            kept_ids.add(k)
            count[a] += 1
            count[b] += 1
    for k, m in enumerate(order):
        a, b = m.a.photo_id, m.b.photo_id
        if k not in kept_ids and (count[a] == 0 or count[b] == 0):
            kept_ids.add(k)
            count[a] += 1
            count[b] += 1
    for pid, t in (totals or {}).items():
        if pid in total:
            total[pid] = max(total[pid], t)
    dropped = Counter({pid: total[pid] - count[pid] for pid in total if total[pid] > count[pid]})
    return [m for k, m in enumerate(order) if k in kept_ids], dropped


def _existing_pairs(session: Session, photo_ids: set[int]) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    ids = sorted(photo_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for a, b in session.execute(select(ReviewItem.photo_id, ReviewItem.other_photo_id).where(
                ReviewItem.kind.in_(DUPLICATE_KINDS), ReviewItem.photo_id.in_(chunk))):
            if a is not None and b is not None:
                out.add((min(a, b), max(a, b)))
    return out


def open_items(session: Session, matches: Iterable[Match], actor: User | str | None, *,
               source: str = "scan", ip: str | None = None,
               per_photo: int | None = MAX_PAIRS_PER_PHOTO, dropped: Counter | None = None,
               totals: Counter | None = None) -> list[ReviewItem]:
    """Open a review item for each student of each match that has none yet (both sides).

    A pair that already has items — open or resolved — is left alone: a decision once
    taken is not asked again by the next scan.  At most ``per_photo`` pairs per photo
    (:func:`cap_matches`; ``None``: all, e.g. when the caller capped already and passes
    its ``dropped`` counts); the items record how many more matched (``totals``: a
    scan's count of all matches per photo, see :func:`scan_rows`).
    """
    matches = list(matches)
    dropped = Counter(dropped or {})
    if per_photo is not None:
        matches, more = cap_matches(matches, per_photo, totals)
        dropped.update(more)
    existing = _existing_pairs(session, {r.photo_id for m in matches for r in (m.a, m.b)})
    made: list[ReviewItem] = []
    for m in matches:
        key = (min(m.a.photo_id, m.b.photo_id), max(m.a.photo_id, m.b.photo_id))
        if key in existing:
            continue
        existing.add(key)
        pair = f"{key[0]}-{key[1]}"
        detail = {"match": m.kind, "exact": m.exact, "bits": m.bits,
                  "face_distance": None if m.face_distance is None else round(float(m.face_distance), 4),
                  "source": source, "pair": pair}
        for this, other in ((m.a, m.b), (m.b, m.a)):
            extra = {"more_matches": dropped[this.photo_id]} if dropped[this.photo_id] else {}
            item = ReviewItem(term_id=this.term_id, kind=m.review_kind, status="open", student_id=this.student_id,
                              photo_id=this.photo_id, other_student_id=other.student_id,
                              other_photo_id=other.photo_id,
                              distance=None if m.face_distance is None else round(float(m.face_distance), 4),
                              detail={**detail, "other_xh": other.xh, "other_term": other.term_code, **extra})
            session.add(item)
            made.append(item)
        session.flush()
        audit.record(session, "duplicate.open", actor=actor, object_type="review_item",
                     object_id=f"{made[-2].id},{made[-1].id}", term_id=m.a.term_id, photo_sha256=m.a.sha256,
                     ip=ip, kind=m.review_kind, xh_a=m.a.xh, xh_b=m.b.xh, term_b=m.b.term_code,
                     other_photo_sha256=m.b.sha256, face_distance=detail["face_distance"], bits=m.bits,
                     exact=m.exact, source=source)
    return made


def held_student_ids(session: Session, term_id: int | None = None) -> set[int]:
    """Students with an open duplicate item, on either side (the batch hold's rule)."""
    stmt = select(ReviewItem.student_id, ReviewItem.other_student_id).where(
        ReviewItem.status == "open", ReviewItem.kind.in_(DUPLICATE_KINDS))
    if term_id is not None:
        stmt = stmt.where(ReviewItem.term_id == term_id)
    out: set[int] = set()
    for a, b in session.execute(stmt):
        out.add(a)
        if b is not None:
            out.add(b)
    return out


_DEFER = "kiosk_deferred_duplicates"


def check_approved_photo(session: Session, photo: Photo, actor: Any = None) -> list[ReviewItem]:
    """The approval hook: face data (computed once if missing), then the one-photo search
    against every other approved photo (all terms kept), then review items for matches.

    Inside :func:`deferred` the search waits for the end of the block (one blockwise scan
    for all the photos approved in it)."""
    ensure_face_data(session, photo)
    pending = session.info.get(_DEFER)
    if pending is not None:
        pending.append(photo.id)
        return []
    row = _row_for(session, photo)
    found = matches_for(row, approved_rows(session, photo_ids=candidates(session, row)))
    if not found:
        return []
    # Cap before hashing: one face under hundreds of 学号 must not cost a hash per pair.
    kept, dropped = cap_matches(found)
    return open_items(session, _with_hashes(session, kept), actor, source="approval", per_photo=None,
                      dropped=dropped)


def candidates(session: Session, row: PhotoRow, *, face_max: float = FACE_MAX) -> set[int]:
    """Ids of approved photos that may match ``row``: the same file hash (SQL), or a face
    within ``face_max`` (one float32 query over every stored encoding, which is read as one
    ``(N, 128)`` matrix without building a record per photo)."""
    from qc.faces import distances  # noqa: PLC0415

    approved = (Photo.status == PhotoStatus.APPROVED.value, Photo.id != row.photo_id)
    out: set[int] = set()
    files = list(row.files())
    if files:
        out.update(session.scalars(select(Photo.id).where(
            *approved, or_(Photo.sha256.in_(files), Photo.original_sha256.in_(files)))))
    if row.encoding is not None:
        ids, blobs = [], []
        for pid, blob in session.execute(select(Photo.id, Photo.face_encoding).where(
                *approved, Photo.face_encoding.is_not(None))):
            if blob is not None and len(blob) == 512:
                ids.append(pid)
                blobs.append(blob)
        if ids:
            x = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, 128)
            d = distances(x, row.encoding)
            out.update(ids[k] for k in np.nonzero(d <= face_max)[0])
    return out


def check_many(session: Session, photo_ids: Iterable[int], actor: Any = None, *,
               source: str = "batch") -> list[ReviewItem]:
    """The approval check for many photos at once: those still approved among
    ``photo_ids`` against each other and against every other approved photo, in one
    blockwise scan (an intake job approving thousands of photos calls this once instead
    of searching once per photo)."""
    ids = set(photo_ids)
    if not ids:
        return []
    everything = approved_rows(session)
    new = [r for r in everything if r.photo_id in ids]
    rest = [r for r in everything if r.photo_id not in ids]
    # Cap before hashing: a degenerate delivery (one face under hundreds of 学号) must not
    # cost a face hash per pair.
    matches, totals = scan_rows(new, rest)
    kept, dropped = cap_matches(matches, totals=totals)
    return open_items(session, _with_hashes(session, kept), actor, source=source, per_photo=None, dropped=dropped)


@contextlib.contextmanager
def deferred(session: Session, actor: Any = None, *, source: str = "batch"):
    """Defer the duplicate search of approvals made inside the block to its end::

        with duplicates.deferred(session, actor, source="intake"):
            for ...: photos.approve(session, photo, actor)

    Face data is still computed at each approval; the search runs once when the block
    ends without an exception (:func:`check_many`).  Not nested: an inner block joins
    the outer one."""
    if session.info.get(_DEFER) is not None:
        yield
        return
    session.info[_DEFER] = []
    try:
        yield
        pending = session.info.pop(_DEFER, [])
        check_many(session, pending, actor, source=source)
    finally:
        session.info.pop(_DEFER, None)


# --------------------------------------------------------------------------- report
def write_report_xlsx(result: ScanResult, path, students: dict[int, Student] | None = None) -> None:
    """An XLSX of the scan: one row per pair (Chinese headers) and a summary sheet."""
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Font  # noqa: PLC0415

    from ..idcard import mask  # noqa: PLC0415

    wb = Workbook()
    ws = wb.active
    ws.title = "疑似重复"
    head = ["类型", "批次A", "学号A", "姓名A", "身份证号A", "批次B", "学号B", "姓名B", "身份证号B",
            "人脸距离", "照片指纹差异（位）", "完全相同文件", "说明"]
    ws.append(head)
    for c in ws[1]:
        c.font = Font(bold=True)
    for m in result.matches:
        why = ("同一照片文件（字节相同）" if m.exact else "同一照片（重新编码/缩放/裁剪）") if m.kind == "file" \
            else "疑似同一人使用两个学号"
        ws.append(["重复照片" if m.kind == "file" else "同一人脸", m.a.term_code, m.a.xh, m.a.name, mask(m.a.id_number),
                   m.b.term_code, m.b.xh, m.b.name, mask(m.b.id_number),
                   None if m.face_distance is None else round(float(m.face_distance), 3), m.bits,
                   "是" if m.exact else "否", why])
    for col, width in zip("ABCDEFGHIJKLM", (10, 9, 16, 10, 22, 9, 16, 10, 22, 10, 16, 12, 30)):
        ws.column_dimensions[col].width = width
    s = wb.create_sheet("汇总")
    d = result.to_dict()["summary"]
    for k, v in (("批次", result.term), ("本批次已通过照片", d["photos"]), ("其他批次已通过照片", d["other_terms_photos"]),
                 ("无人脸特征（仅比对文件哈希）", d["without_face"]), ("本次补算人脸特征", d["computed"]),
                 ("同一人脸", d["face"]), ("重复照片", d["file"]), ("人脸距离阈值", FACE_MAX),
                 ("照片指纹阈值（位）", PHASH_MAX_BITS), ("用时（秒）", d["elapsed_s"])):
        s.append([k, v])
    s.column_dimensions["A"].width = 30
    wb.save(path)


