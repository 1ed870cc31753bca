"""The truncated landmark model (tools/calibration/shape_model.py): reading and rewriting dlib's
shape_predictor file."""
from __future__ import annotations

import numpy as np
import pytest

from tools.calibration import shape_model as em


@pytest.fixture(scope="module")
def src_bytes() -> bytes:
    return em.source_path().read_bytes()


@pytest.fixture(scope="module")
def layout(src_bytes) -> em.Layout:
    return em.parse(src_bytes)          # ~1.5 s over the 100 MB file


def test_integers_round_trip_in_dlibs_form():
    for v in (0, 1, -1, 127, 128, 255, 256, -136, 500, 2**31, -(2**40), 2**63 - 1):
        enc = em.write_int(v)
        assert enc[0] & 0x0F == len(enc) - 1
        assert em.read_int(enc + b"\x07", 0) == (v, len(enc))
    assert em.write_int(-136) == b"\x81\x88"          # as the file's initial_shape header reads
    with pytest.raises(ValueError):
        em.read_int(b"\x03\x01", 0)                    # says 3 bytes follow, has 1


def test_installed_model_parses_to_15_cascades_of_500_depth4_trees(src_bytes, layout):
    assert layout.size == len(src_bytes)
    assert layout.cascades == 15
    assert layout.trees_per_cascade == [500] * 15
    assert layout.n_landmark_values == 136
    # per cascade: 500 anchor indices and 500 deltas
    assert {em.read_int(src_bytes, s)[0] for s, _ in layout.anchors + layout.deltas} == {500}


def test_rewriting_with_all_trees_is_byte_identical(src_bytes, layout):
    assert em.truncate(src_bytes, layout, 500) == src_bytes
    assert em.truncate(src_bytes, layout, [500] * 15) == src_bytes


def test_a_file_with_a_trailing_byte_or_cut_short_is_refused(src_bytes):
    head = src_bytes[:200_000]
    with pytest.raises((ValueError, IndexError)):
        em.parse(head)
    with pytest.raises(ValueError, match="version"):
        em.parse(em.write_int(2) + src_bytes[1:])


def _synthetic(n_casc: int, n_trees: int, n_vals: int, n_feat: int, seed: int = 0) -> bytes:
    """A small shape-predictor file written with our own writer (depth-4 trees)."""
    rng = np.random.default_rng(seed)
    w, f = em.write_int, em.write_float

    def floats(k):
        return b"".join(f(float(x)) for x in rng.normal(0, 3, k))

    out = [w(1), w(-n_vals), w(-1), floats(n_vals), w(n_casc)]
    for _ in range(n_casc):
        out.append(w(n_trees))
        for _ in range(n_trees):
            out.append(w(em.SPLITS_PER_TREE))
            for _ in range(em.SPLITS_PER_TREE):
                out += [w(int(rng.integers(0, n_feat))), w(int(rng.integers(0, n_feat))), f(float(rng.normal()))]
            out.append(w(em.LEAVES_PER_TREE))
            for _ in range(em.LEAVES_PER_TREE):
                out += [w(-n_vals), w(-1), floats(n_vals)]
    out.append(w(n_casc))
    for _ in range(n_casc):
        out += [w(n_feat)] + [w(int(i)) for i in rng.integers(0, n_vals // 2, n_feat)]
    out.append(w(n_casc))
    for _ in range(n_casc):
        out += [w(n_feat), floats(2 * n_feat)]
    return b"".join(out)


def test_synthetic_file_truncates_to_the_kept_trees_and_cascades():
    b = _synthetic(n_casc=3, n_trees=7, n_vals=10, n_feat=5)
    lay = em.parse(b)
    assert (lay.cascades, lay.trees_per_cascade, lay.n_landmark_values) == (3, [7, 7, 7], 10)
    assert em.truncate(b, lay, 7) == b
    small = em.truncate(b, lay, 2, cascades=1)
    sl = em.parse(small)
    assert (sl.cascades, sl.trees_per_cascade) == (1, [2])
    # the kept trees are the first ones, byte for byte
    assert small[sl.trees[0][0]:sl.trees[0][2]] == b[lay.trees[0][0]:lay.trees[0][2]]
    assert small[sl.anchors[0][0]:sl.anchors[0][1]] == b[lay.anchors[0][0]:lay.anchors[0][1]]
    mixed = em.parse(em.truncate(b, lay, [1, 7, 3]))
    assert mixed.trees_per_cascade == [1, 7, 3]
    for bad in ((0, None), (8, None), (2, 4), (2, 0)):
        with pytest.raises(ValueError):
            em.truncate(b, lay, *bad)
    with pytest.raises(ValueError):
        em.parse(b + b"\x00")


def _landmarks(predictor, img, box):
    from qc import faces

    return faces.landmarks_for(img, box, predictor)


def test_truncated_models_load_in_dlib_and_fit_close_to_the_full_model(tmp_path, corpus_dir):
    import dlib

    from qc import faces
    from qc.context import PhotoContext

    ctx = PhotoContext((corpus_dir / "frll_009_neutral_front.jpg").read_bytes())
    img, box = ctx.rgb, ctx.face.box
    full = _landmarks(None, img, box)
    src = em.source_path()
    same = dlib.shape_predictor(str(em.build(src, tmp_path / "all.dat", 500)))
    assert np.array_equal(_landmarks(same, img, box), full)
    small_path = em.build(src, tmp_path / "t100.dat", 100)
    assert small_path.stat().st_size < 0.25 * src.stat().st_size
    assert not list(tmp_path.glob("*.tmp"))
    small = dlib.shape_predictor(str(small_path))
    # 100 of 500 trees per cascade: mean landmark shift 3.7 px at an eye distance of 199 px
    d = np.linalg.norm(_landmarks(small, img, box) - full, axis=1)
    assert d.mean() < 0.03 * faces.Face(box=box, score=0, landmarks=full).eye_distance, d.mean()
    assert not np.array_equal(_landmarks(small, img, box), full)


def test_dlib_reads_a_synthetic_file_as_written():
    # Zero written as a zero-length integer made dlib refuse the file ("Error
    # deserializing object of type unsigned long"); dlib writes it as one byte.
    import tempfile

    import dlib

    assert em.write_int(0) == b"\x01\x00"
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/synthetic.dat"
        with open(path, "wb") as f:
            f.write(_synthetic(2, 3, 12, 9))
        dlib.shape_predictor(path)
