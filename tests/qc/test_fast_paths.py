"""QC fast paths give the textbook answers.

``qc.segment`` fits its backdrop surface through normal equations, a trimmed round by
subtracting the dropped rows, and reads quantiles and line medians with single
partitions; each is checked here against the plain numpy computation it replaces,
including the rank-deficient fallback.
"""
from __future__ import annotations

import numpy as np
import pytest

from qc.checks.border import _planar
from qc import segment
from qc.segment import _backdrop_de, _design, _fit_channels, _surface, median_rows, order_stats, quantile


def _reference_fit(X, V, rounds=3):
    out = []
    for v in V:
        keep = np.ones(len(v), bool)
        for i in range(rounds):
            beta = np.linalg.lstsq(X[keep], v[keep], rcond=None)[0]
            if i < rounds - 1 and keep.sum() > 30:
                r = np.abs(X @ beta - v)
                keep = r <= np.quantile(r, 0.8)
        out.append(beta)
    return np.array(out)


def _samples(rng, n, one_row=False):
    x = rng.uniform(-0.5, 0.5, n)
    y = np.full(n, -0.5) if one_row else rng.uniform(-0.5, 0.5, n)
    X = _design(x, y)
    truth = np.array([[60, 3, -4, 2, 1, -2], [-10, 1, 0, 0, 0.5, 0], [-30, 0, 2, 1, 0, 1]], float)
    V = truth @ X.T + rng.normal(0, 1.0, (3, n))
    V[:, : n // 10] += 25.0          # a tenth of the samples are "person": trimmed away
    return X, V, truth


@pytest.mark.parametrize("n", [7000, 400, 31])
def test_trimmed_fit_matches_lstsq_on_kept_rows(n):
    X, V, truth = _samples(np.random.default_rng(n), n)
    got = _fit_channels(X, V)
    assert np.allclose(got, _reference_fit(X, V), atol=1e-8)
    if n == 7000:
        assert np.abs(got - truth).max() < 1.0      # the outliers did not drag the fit


def test_rank_deficient_design_falls_back_to_lstsq():
    X, V, _ = _samples(np.random.default_rng(3), 500, one_row=True)
    got = _fit_channels(X, V)
    assert np.all(np.isfinite(got))
    assert np.allclose(X @ got.T, X @ _reference_fit(X, V).T, atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 5, 7001, 7000])
def test_quantile_is_numpys_linear(n):
    r = np.abs(np.random.default_rng(n).normal(size=n))
    for q in (0.0, 0.5, 0.8, 1.0):
        assert quantile(r, q) == pytest.approx(float(np.quantile(r, q)), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("length", [480, 481, 2, 1])
def test_line_medians_are_numpys(length):
    a = np.random.default_rng(length).normal(50, 10, (6, length, 3)).astype(np.float32)
    assert np.array_equal(median_rows(_planar(a)), np.median(a, axis=1))


def test_backdrop_de_is_distance_from_the_surface():
    rng = np.random.default_rng(7)
    h, w = 32, 24
    x = np.arange(w) / (w - 1) - 0.5
    y = np.arange(h) / (h - 1) - 0.5
    coeffs = [rng.normal(0, 5, 6) for _ in range(3)]
    lab = rng.normal(40, 10, (h, w, 3)).astype(np.float32)
    model = np.stack([_surface(b, x, y) for b in coeffs], axis=-1)
    want = np.sqrt(((lab - model) ** 2).sum(axis=-1))
    got = _backdrop_de((lab[..., 0], lab[..., 1], lab[..., 2]), coeffs, x, y)
    assert got.dtype == np.float32
    assert np.allclose(got, want, atol=1e-3)


def test_masked_is_boolean_indexing():
    from qc.segment import masked

    rng = np.random.default_rng(11)
    img = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    mask = rng.random((40, 30)) < 0.3
    assert np.array_equal(masked(img, mask), img[mask])
    assert np.array_equal(masked(img[..., 1], mask), img[..., 1][mask])      # a strided plane
    assert np.array_equal(masked(img[:, 5:], mask[:, 5:]), img[:, 5:][mask[:, 5:]])
    assert masked(img, np.zeros((40, 30), bool)).shape == (0, 3)


def test_specular_only_of_bright_pixels_is_the_full_formula():
    from qc.checks.highlights import specular

    rng = np.random.default_rng(5)
    rgb = rng.integers(200, 256, (50, 60, 3), dtype=np.uint8)
    rgb[:5] = 0                                   # black rows: saturation defined as 0
    gray = rgb.mean(axis=-1).astype(np.uint8)
    mx, mn = rgb.max(axis=-1).astype(float), rgb.min(axis=-1).astype(float)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0.0)
    for luma_min, sat_max in ((245, 0.12), (0, 0.05), (256, 0.5)):
        assert np.array_equal(specular(rgb, gray, luma_min, sat_max), (gray >= luma_min) & (sat <= sat_max))


@pytest.mark.parametrize("shift", [(0, 0), (-200, 0), (0, 500), (230, -40)])
def test_face_crop_valid_area_is_the_warped_image_extent(shift):
    import cv2

    from qc.checks._common import _valid_area

    ang, s = np.radians(7.0), 0.8
    m = np.array([[np.cos(ang) * s, -np.sin(ang) * s, 0.0], [np.sin(ang) * s, np.cos(ang) * s, 0.0]])
    m[:, 2] = np.array([120.0, 90.0]) - m[:, :2] @ np.array([240.0 + shift[0], 300.0 + shift[1]])
    want = cv2.warpAffine(np.full((640, 480), 255, np.uint8), m, (240, 260), flags=cv2.INTER_NEAREST,
                          borderValue=0) > 0
    got = _valid_area(m, (640, 480), (240, 260))
    assert np.array_equal(got, want)
    assert got.all() == (shift == (0, 0))


def test_uniform_lines_match_the_strided_formula():
    from qc.checks.border import _uniform_lines
    from qc.segment import norm3

    rng = np.random.default_rng(9)
    lab = rng.normal(60, 1.2, (12, 480, 3)).astype(np.float32)
    lab[3, :20] += 40                     # a line with 4 % off-colour pixels
    med = np.median(lab, axis=1)
    want = ((norm3(lab - med[:, None, :]) <= 6.0).mean(axis=1) >= 0.97).tolist()
    planar = _planar(lab)
    assert np.array_equal(median_rows(planar), med)
    assert _uniform_lines(planar, med, 6.0, 0.97) == want
    assert want[3] is False and want[0] is True


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 7, 22678])
def test_median_rows_is_numpys_median(dtype, n):
    a = np.random.default_rng(n).normal(40, 9, (3, n)).astype(dtype)
    got = median_rows(a)
    assert got.dtype == dtype and np.array_equal(got, np.median(a, axis=-1))
    assert median_rows(a[0]) == np.median(a[0])
    with pytest.raises(ValueError):
        median_rows(np.zeros((3, 0), dtype))


@pytest.mark.parametrize("n", [480, 481, 640])
def test_median_rows_of_short_tied_rows_are_numpys(n):
    """Edge lines of a plain backdrop: ~10-40 distinct values per row (sorted, not
    partitioned, since a partition is three times slower on such ties)."""
    a = np.stack([np.round(np.random.default_rng(s).normal(60, 1.5, n) * 2) / 2 for s in range(12)])
    a = a.astype(np.float32).reshape(4, 3, n)
    assert max(len(np.unique(r)) for r in a.reshape(-1, n)) <= 40
    got = median_rows(a)
    assert got.shape == (4, 3) and got.dtype == np.float32
    assert np.array_equal(got, np.median(a, axis=-1))


def _backdrop_like(n: int, seed: int) -> np.ndarray:
    """CIELAB channel values as a plain backdrop gives them: ~100 distinct values over
    tens of thousands of pixels (numpy's single-position SIMD quickselect is slowest on
    such ties)."""
    rng = np.random.default_rng(seed)
    return np.round(rng.normal(-12, 3, n) * 8) / 8


def _cases():
    rng = np.random.default_rng(11)
    n = segment._SELECT_DIRECT * 18
    spike = rng.normal(0, 1, n)
    spike[::997] = 1e12                        # far outliers
    ladder = 2.0 ** -np.arange(1200)            # exponentially spaced
    return {
        "ties_f32": _backdrop_like(n, 1).astype(np.float32),
        "ties_f64": _backdrop_like(n + 1, 2),
        "normal_f32": rng.normal(40, 9, n).astype(np.float32),
        "uint8": rng.integers(0, 256, n).astype(np.uint8),
        "two_values": np.repeat(np.array([3.5, 7.25]), [n // 3, n - n // 3]),
        "constant": np.full(n, 2.5, np.float32),
        "spike": spike,
        "ladder": np.tile(ladder, n // len(ladder) + 1)[:n],
        "just_over_direct": rng.normal(0, 1, segment._SELECT_DIRECT + 1),
    }


@pytest.mark.parametrize("name", sorted(_cases()))
def test_order_stats_are_the_sorted_values(name):
    r = _cases()[name]
    n = len(r)
    ranks = sorted({0, 1, n // 3, n // 2 - 1, n // 2, n // 2 + 1, (4 * n) // 5, n - 2, n - 1})
    want = np.sort(r)[ranks]
    got = order_stats(r, ranks)
    assert [type(v) for v in got] == [type(v) for v in want] and list(got) == list(want)
    for k in ranks:                              # and one rank at a time
        assert order_stats(r, [k]) == [np.sort(r)[k]]


def test_order_stats_never_ask_numpy_for_a_single_position(monkeypatch):
    # numpy >= 2 sends a one-position partition to its SIMD quickselect, which took up to
    # 2.5 ms on a backdrop's tied CIELAB row where introselect (two positions) took 0.08.
    seen = []
    real = np.partition

    def spy(a, kth, *args, **kw):
        seen.append(list(np.atleast_1d(kth)))
        return real(a, kth, *args, **kw)

    r = _backdrop_like(37415, 3)
    srt, med, top = np.sort(r), np.median(r), np.quantile(r, 1.0)
    monkeypatch.setattr(segment.np, "partition", spy)
    got = (order_stats(r, [0]), order_stats(r, [len(r) - 1]), median_rows(r[None, :])[0], quantile(r, 1.0))
    monkeypatch.undo()
    assert got == ([srt[0]], [srt[-1]], med, top)
    assert len(seen) == 4 and all(len(k) >= 2 for k in seen)


def test_order_stats_keep_numpys_order_for_nan_and_inf():
    r = np.random.default_rng(5).normal(0, 1, segment._SELECT_DIRECT * 4)
    r[7], r[100], r[2000] = np.nan, np.inf, -np.inf
    n = len(r)
    for k in (0, 1, n // 2, n - 2, n - 1):
        got, want = order_stats(r, [k])[0], np.partition(r, k)[k]
        assert got == want or (np.isnan(got) and np.isnan(want))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [37415, 37416])
def test_medians_and_quantiles_of_backdrop_like_ties_are_numpys(dtype, n):
    a = np.stack([_backdrop_like(n, s) for s in range(3)]).astype(dtype)
    got = median_rows(a)
    assert got.dtype == dtype and np.array_equal(got, np.median(a, axis=-1))
    for q in (0.05, 0.5, 0.8, 0.95, 1.0):
        assert quantile(a[1], q) == pytest.approx(float(np.quantile(a[1], q)), rel=1e-12, abs=1e-12)


def test_component_at_is_the_seeds_connected_component():
    import cv2

    from qc.segment import component_at

    rng = np.random.default_rng(21)
    mask = (rng.random((60, 80)) < 0.45).astype(np.uint8)
    mask[0, :] = 1                            # a component touching the border
    before = mask.copy()
    n, labels = cv2.connectedComponents(mask, connectivity=8)
    assert n > 3
    for y, x in [(0, 5), *zip(*np.nonzero(mask)[:2])][:40]:
        got = component_at(mask, (int(x), int(y)))
        assert np.array_equal(got, (labels == labels[y, x]).astype(np.uint8))
    y0, x0 = np.argwhere(mask == 0)[0]
    assert component_at(mask, (int(x0), int(y0))) is None
    assert np.array_equal(mask, before)       # the input is not modified


def test_full_size_backdrop_mask_is_made_on_demand(corpus_dir):
    from qc.context import PhotoContext

    ctx = PhotoContext((corpus_dir / "pichai_blue_bg.jpg").read_bytes())
    seg = ctx.segmentation
    assert "background" not in seg.__dict__                  # not made by the segmentation
    bg = ctx.background_mask
    assert bg.shape == ctx.rgb.shape[:2] and bg.dtype == bool
    assert not (bg & seg.person).any() and 0.2 < bg.mean() < 0.9
    assert bg[0, 0] == seg.background_small[0, 0] and bg[-1, -1] == seg.background_small[-1, -1]
    assert abs(bg.mean() - seg.background_small.mean()) < 0.01


@pytest.mark.parametrize("shape", [(320, 240, 3), (4, 640, 3), (2240, 3), (1, 1, 3), (0, 3)])
def test_rgb_to_lab_is_opencvs_conversion_of_the_scaled_pixels(shape):
    """Converted in one buffer (in place): the values of the plain two-step conversion,
    for images, line stacks and pixel lists, and the caller's array is left alone."""
    import cv2

    from qc.segment import rgb_to_lab

    a = np.random.default_rng(3).integers(0, 256, shape).astype(np.uint8)
    before = a.copy()
    got = rgb_to_lab(a)
    f = a.reshape(-1, 1, 3).astype(np.float32) / 255.0
    want = cv2.cvtColor(f, cv2.COLOR_RGB2Lab).reshape(shape) if a.size else np.zeros(shape, np.float32)
    assert got.shape == shape and got.dtype == np.float32
    assert np.array_equal(got, want) and np.array_equal(a, before)
