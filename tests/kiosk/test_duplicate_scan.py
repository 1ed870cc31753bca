"""The blockwise pair search agrees with brute force, whatever the tile size."""
from __future__ import annotations

import numpy as np
import pytest

from kiosk.services.duplicates import face_pairs, naive_pairs


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
