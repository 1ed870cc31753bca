"""Face hash (qc.phash): the same photograph stays within the calibrated limit after
re-encoding, rescaling and mirroring; different people do not."""
from __future__ import annotations

import numpy as np
import pytest

from kiosk.services.duplicates import PHASH_MAX_BITS
from qc import phash
from tests.kiosk import facephotos as fp


def _hash(data: bytes) -> int:
    import qc
    from qc.runner import make_context

    ctx = make_context(data, qc.load_profile())
    assert ctx.face is not None
    return phash.face_phash(ctx.rgb, ctx.face)


def test_mirroring_flips_exactly_the_odd_horizontal_frequencies():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.normal(size=(32, 32)).astype(np.float32)
        h, hm = phash.dct_hash(a), phash.dct_hash(a[:, ::-1].copy())
        assert phash.to_unsigned(hm) == phash.to_unsigned(h) ^ phash.MIRROR_MASK
        assert phash.hamming(h, hm) == 0
    assert bin(phash.MIRROR_MASK).count("1") == 32


def test_signed_storage_round_trips_and_vector_form_agrees():
    rng = np.random.default_rng(5)
    vals = [phash.to_signed(int(v)) for v in rng.integers(0, 2**63, 50, dtype=np.uint64) * 2 + 1]
    assert all(-(2**63) <= v < 2**63 for v in vals)
    q = vals[0]
    many = phash.hamming_many(np.array(vals, dtype=np.int64), q)
    assert list(many) == [phash.hamming(v, q) for v in vals]
    assert phash.hamming(phash.to_signed(phash.to_unsigned(-5)), -5) == 0


def test_wrong_input_shapes_are_refused():
    with pytest.raises(ValueError):
        phash.dct_hash(np.zeros((16, 16)))


def test_same_photograph_recoded_rescaled_mirrored_stays_within_limit(corpus_dir):
    base = fp.spec("damon_plain_1.jpg")
    h = _hash(base)
    for copy in (fp.recoded(base, quality=60), fp.recoded(base, scale=0.6, quality=85),
                 fp.recoded(base, scale=1.4, quality=75), fp.mirrored(base)):
        assert phash.hamming(h, _hash(copy)) <= PHASH_MAX_BITS
    # The original corpus file, framed differently, is still the same photograph.
    assert phash.hamming(h, _hash(fp.corpus("damon_plain_1.jpg"))) <= PHASH_MAX_BITS


def test_different_people_and_other_photos_are_beyond_the_limit(corpus_dir):
    h = _hash(fp.spec("damon_plain_1.jpg"))
    for other in ("damon_plain_3.jpg", "frll_009_neutral_front.jpg", "jolie_white_bg.jpg", "yale01_normal.png"):
        assert phash.hamming(h, _hash(fp.spec(other))) > PHASH_MAX_BITS, other
