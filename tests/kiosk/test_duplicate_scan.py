"""The blockwise pair search agrees with brute force, whatever the tile size."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from kiosk.services.duplicates import face_pairs, naive_pairs, nearest_pairs


def _data(n=700, planted=25, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x *= 0.3  # distances of random rows ≈ 0.42, so the 0.45 limit sees many near misses
    pairs = set()
    idx = rng.choice(n, 2 * planted, replace=False)
    for a, b in zip(idx[:planted], idx[planted:]):
        x[b] = x[a] + rng.normal(scale=0.02, size=128).astype(np.float32)
        pairs.add((min(a, b), max(a, b)))
    return x, pairs


def _brute(x, y, t):
    x, y = x.astype(np.float64), y.astype(np.float64)
    d = np.sqrt(np.maximum((x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T, 0))
    return d, d <= t


@pytest.mark.parametrize("rows,cols", [(1024, 16384), (64, 100), (7, 33), (1, 97)])
def test_all_pairs_match_brute_force(rows, cols):
    x, planted = _data()
    i, j, d = face_pairs(x, 0.45, block_rows=rows, block_cols=cols)
    full, hit = _brute(x, x, 0.45)
    want = {(a, b) for a, b in zip(*np.nonzero(np.triu(hit, 1)))}
    assert set(zip(i.tolist(), j.tolist())) == want
    assert planted <= want and len(want) > len(planted)  # near misses are in play
    assert np.allclose(d, full[i, j], atol=1e-4)
    assert np.all(i < j)


def test_rows_against_other_rows():
    x, _ = _data(300, 0, seed=2)
    y, _ = _data(200, 0, seed=3)
    y[5] = x[17]
    i, j, d = face_pairs(x, 0.45, y=y, block_rows=50, block_cols=64)
    full, hit = _brute(x, y, 0.45)
    assert set(zip(i.tolist(), j.tolist())) == set(zip(*np.nonzero(hit)))
    assert (17, 5) in set(zip(i.tolist(), j.tolist()))


def test_naive_baseline_finds_the_same_pairs_and_empty_inputs():
    x, _ = _data(250, 10, seed=4)
    a = face_pairs(x, 0.45)
    b = naive_pairs(x, 0.45)
    assert set(zip(a[0].tolist(), a[1].tolist())) == set(zip(b[0].tolist(), b[1].tolist()))
    e = face_pairs(np.zeros((0, 128), np.float32))
    assert all(len(v) == 0 for v in e)
    assert all(len(v) == 0 for v in face_pairs(np.ones((1, 128), np.float32)))


def _clique(n, seed=5):
    """``n`` encodings of one face (tiny noise): every pair matches."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=128).astype(np.float32)
    base *= 0.3 / np.linalg.norm(base)
    return base + rng.normal(scale=0.005, size=(n, 128)).astype(np.float32)


@pytest.mark.parametrize("rows,cols", [(1024, 16384), (64, 100)])
def test_nearest_pairs_agree_with_all_pairs_when_matches_are_sparse(rows, cols):
    x, _ = _data()
    i, j, d = face_pairs(x, 0.45)
    per_row = np.bincount(np.concatenate([i, j]), minlength=len(x))
    # With k at least every row's number of matches, nothing may be left out.
    nb = nearest_pairs(x, 0.45, int(per_row.max()), block_rows=rows, block_cols=cols)
    assert set(zip(nb.i.tolist(), nb.j.tolist())) == set(zip(i.tolist(), j.tolist()))
    assert np.allclose(nb.d, d, atol=1e-5)
    assert np.array_equal(nb.total_x, per_row)


def test_nearest_pairs_keep_the_nearest_per_row_and_every_column():
    x, _ = _data(300, 0, seed=2)
    y, _ = _data(200, 0, seed=3)
    full, hit = _brute(x, y, 0.45)
    nb = nearest_pairs(x, 0.45, 1, y=y, block_rows=50, block_cols=64)
    kept = set(zip(nb.i.tolist(), nb.j.tolist()))
    for r in np.nonzero(hit.any(axis=1))[0]:
        assert (r, int(np.argmin(np.where(hit[r], full[r], np.inf)))) in kept
    for c in np.nonzero(hit.any(axis=0))[0]:
        assert (int(np.argmin(np.where(hit[:, c], full[:, c], np.inf))), c) in kept
    assert np.array_equal(nb.total_x, hit.sum(axis=1)) and np.array_equal(nb.total_y, hit.sum(axis=0))


def test_one_face_under_thousands_of_rows_stays_bounded():
    """The degenerate delivery that once took 24 GB: 3 000 encodings of one face give
    4.5 million matching pairs; the scan keeps about k + 1 per row and counts the rest."""
    n, k = 3000, 8
    x = _clique(n)
    nb = nearest_pairs(x, 0.45, k, block_rows=512, block_cols=1024)
    assert len(nb.i) <= n * (k + 1)
    assert np.all(nb.total_x == n - 1)
    assert set(nb.i.tolist()) | set(nb.j.tolist()) == set(range(n))     # every row is in a kept pair
    assert np.all(nb.i < nb.j) and np.all(nb.d <= 0.45)


def test_scan_rows_bounds_matches_for_one_face_and_one_file_under_many_students():
    from kiosk.services.duplicates import PhotoRow, cap_matches, scan_rows

    n = 400
    enc = _clique(n, seed=6)
    rows = [PhotoRow(p, 1000 + p, 1, "2027-07", f"xh{p:05d}", f"学生{p}", f"id{p}", 1,
                     "same-bytes" if p < 60 else f"sha{p}", None, enc[p], None) for p in range(n)]
    matches, totals = scan_rows(rows, neighbours=4)
    assert len(matches) <= n * 5 + 60 * 4
    assert all(totals[r.photo_id] == n - 1 for r in rows)
    assert {r.photo_id for m in matches for r in (m.a, m.b)} == set(range(n))
    assert sum(m.kind == "file" and m.exact for m in matches) >= 59
    kept, dropped = cap_matches(matches, 3, totals)
    in_kept = Counter(r.photo_id for m in kept for r in (m.a, m.b))
    assert set(in_kept) == set(range(n)) and len(kept) < 2 * n          # everyone held, few items
    assert all(dropped[p] + in_kept[p] == n - 1 for p in range(n))       # "N more matched" is right
