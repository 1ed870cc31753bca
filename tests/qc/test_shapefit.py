"""qc.shapefit: dlib's 68-point model evaluated by our C loop must give dlib's points,
bit for bit, on every kind of fit QC makes; a model it cannot read must leave QC on
dlib's predictor, never crash it."""
from __future__ import annotations

import io

import numpy as np
import pytest

from qc import faces, shapefit
from tests.conftest import CORPUS, require_or_skip

pytestmark = pytest.mark.skipif(not (CORPUS / "MANIFEST.csv").is_file(), reason="corpus not found")


@pytest.fixture(scope="module")
def fast():
    if not shapefit.available():
        require_or_skip("qc/_shapefit.so is not built (scripts/setup-env builds it with cc)")
    return shapefit


def _dlib_points(img, rect, predictor=None):
    import dlib

    pred = predictor or faces.models()[1]
    s = pred(np.ascontiguousarray(img), dlib.rectangle(*(int(v) for v in rect)))
    return np.array([(p.x, p.y) for p in s.parts()], dtype=np.float64)


def _jobs():
    """(image, rect) pairs of every kind QC fits: detector boxes on corpus photos, boxes
    shifted and scaled, boxes reaching past the image edge, grey images, and the mirror
    faces of eyes_open."""
    from PIL import Image

    import qc
    from qc.checks import eyes_open
    from qc.checks._common import face_crop
    from qc.runner import make_context

    prof = qc.load_profile()
    names = sorted(p.name for p in (CORPUS / "images").iterdir())[::3]
    jobs = []
    for n in names:
        ctx = make_context((CORPUS / "images" / n).read_bytes(), prof, name=n)
        if ctx.decode_error is not None:
            continue
        h, w = ctx.rgb.shape[:2]
        for f in ctx.candidates[:2]:
            r = (f.box.left, f.box.top, f.box.right, f.box.bottom)
            jobs.append((ctx.rgb, r))
            jobs.append((ctx.rgb, (r[0] + 9, r[1] - 5, r[2] + 17, r[3] + 3)))
            jobs.append((np.ascontiguousarray(np.asarray(Image.fromarray(ctx.rgb).convert("L"))), r))
        jobs.append((ctx.rgb, (-40, -30, w // 2, h // 2)))                       # past the top-left corner
        jobs.append((ctx.rgb, (w // 2, h // 2, w + 60, h + 80)))                 # past the bottom-right
        if ctx.face is not None:
            jobs.append((face_crop(ctx).rgb, eyes_open.MIRROR_BOX))
            fc = face_crop(ctx)
            jobs.append((np.ascontiguousarray(fc.rgb[:, ::-1]), eyes_open.MIRROR_BOX))
    return jobs


def test_every_kind_of_fit_gives_dlibs_points(fast):
    jobs = _jobs()
    assert len(jobs) > 100
    bad = [(img.shape, r) for img, r in jobs if not np.array_equal(fast.fit(img, r), _dlib_points(img, r))]
    assert not bad, f"{len(bad)} of {len(jobs)} fits differ from dlib: {bad[:5]}"


def test_landmarks_for_uses_it_and_gives_the_same_points(fast, monkeypatch):
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(
        CORPUS / "images" / "obama_portrait.jpg").convert("RGB"))
    box = faces.detect(img, with_landmarks=False)[0].box
    calls = []
    real = shapefit.fit
    monkeypatch.setattr(shapefit, "fit", lambda *a, **k: calls.append(1) or real(*a, **k))
    ours = faces.landmarks_for(img, box)
    assert calls == [1]
    monkeypatch.setenv("KIOSK_SHAPEFIT", "0")                 # dlib's own predictor
    assert not shapefit.available()
    assert np.array_equal(faces.landmarks_for(img, box), ours)
    assert calls == [1]


# ---------------------------------------------------------------- a model of our own

def _small_model(rng, n_pts=6, n_casc=3, n_trees=7, depth=2, n_feat=9) -> bytes:
    """A valid serialized dlib shape_predictor: few points, shallow trees, float32 values
    with full mantissas (as a trained model's: short ones make exact .5 roundings, where
    dlib's tie-breaking is not what a trained model ever meets)."""
    splits, leaves = 2 ** depth - 1, 2 ** depth
    from tools.calibration.shape_model import write_float as _float, write_int as _int

    dy = lambda lo, hi: float(np.float32(rng.uniform(lo, hi)))  # noqa: E731
    out = io.BytesIO()
    out.write(_int(1))
    out.write(_int(-2 * n_pts) + _int(-1))
    init = [dy(0.2, 0.8) for _ in range(2 * n_pts)]
    out.write(b"".join(_float(v) for v in init))
    out.write(_int(n_casc))
    for _ in range(n_casc):
        out.write(_int(n_trees))
        for _ in range(n_trees):
            out.write(_int(splits))
            for _ in range(splits):
                out.write(_int(int(rng.integers(n_feat))) + _int(int(rng.integers(n_feat))) + _float(dy(-40, 40)))
            out.write(_int(leaves))
            for _ in range(leaves):
                out.write(_int(-2 * n_pts) + _int(-1))
                out.write(b"".join(_float(dy(-0.05, 0.05)) for _ in range(2 * n_pts)))
    out.write(_int(n_casc))
    for _ in range(n_casc):
        out.write(_int(n_feat) + b"".join(_int(int(rng.integers(n_pts))) for _ in range(n_feat)))
    out.write(_int(n_casc))
    for _ in range(n_casc):
        out.write(_int(n_feat) + b"".join(_float(dy(-0.3, 0.3)) + _float(dy(-0.3, 0.3)) for _ in range(n_feat)))
    return out.getvalue()


def test_a_model_of_our_own_parses_caches_and_fits_as_dlib_does(tmp_path, monkeypatch):
    import dlib

    if not shapefit._LIB.exists():
        require_or_skip("qc/_shapefit.so is not built")
    monkeypatch.setenv("KIOSK_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    path = tmp_path / "small.dat"
    path.write_bytes(_small_model(rng))
    pred = dlib.shape_predictor(str(path))                   # dlib reads it: the file is valid
    m = shapefit.prepare(path)
    assert m is not None and m.shape == (3, 7, 3, 12, 9)
    assert len(list((tmp_path / "cache").iterdir())) == 1     # stored ...
    again = shapefit.prepare(path)
    assert isinstance(again.leaves, np.memmap)                # ... and read back from the cache
    img = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    for rect in [(10, 12, 70, 80), (-20, -10, 40, 50), (60, 90, 130, 150), (0, 0, 89, 119)]:
        assert np.array_equal(shapefit.fit(img, rect, again), _dlib_points(img, rect, pred))
        grey = np.ascontiguousarray(img[..., 0])
        assert np.array_equal(shapefit.fit(grey, rect, again), _dlib_points(grey, rect, pred))


@pytest.mark.parametrize("damage", ["truncated", "trailing", "version", "not_a_model"])
def test_a_model_it_cannot_read_is_refused_not_guessed(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("KIOSK_CACHE_DIR", str(tmp_path / "cache"))
    good = _small_model(np.random.default_rng(4))
    data = {"truncated": good[: len(good) // 2], "trailing": good + b"\x01\x05",
            "version": b"\x01\x02" + good[2:], "not_a_model": b"GIF89a" + bytes(50)}[damage]
    with pytest.raises(ValueError):
        shapefit.parse_model(data)
    path = tmp_path / "bad.dat"
    path.write_bytes(data)
    assert shapefit.prepare(path) is None
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_an_unwritable_cache_still_gives_the_parsed_model(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("KIOSK_CACHE_DIR", str(blocker / "cache"))
    path = tmp_path / "small.dat"
    path.write_bytes(_small_model(np.random.default_rng(5)))
    m = shapefit.prepare(path)
    assert m is not None and not isinstance(m.leaves, np.memmap)


def test_images_it_does_not_take_are_refused(fast):
    with pytest.raises(ValueError):
        fast.fit(np.zeros((50, 50, 4), np.uint8), (0, 0, 40, 40))
    with pytest.raises(ValueError):
        fast.fit(np.zeros((50, 50, 3), np.float32), (0, 0, 40, 40))


def test_a_damaged_cache_entry_is_not_trusted(tmp_path, monkeypatch):
    import dlib

    if not shapefit._LIB.exists():
        require_or_skip("qc/_shapefit.so is not built")
    monkeypatch.setenv("KIOSK_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "small.dat"
    path.write_bytes(_small_model(np.random.default_rng(6)))
    assert shapefit.prepare(path) is not None
    (entry,) = (tmp_path / "cache").iterdir()
    bad = np.load(entry / "idx1.npy")
    bad[0, 0, 0] = 10 ** 6                                  # would read far outside the features
    np.save(entry / "idx1.npy", bad)
    m = shapefit.prepare(path)                              # parsed again, not the damaged arrays
    assert m is not None and int(m.idx1.max()) < m.shape[4]
    healed = shapefit.prepare(path)                         # and the entry was written afresh
    assert isinstance(healed.leaves, np.memmap) and int(healed.idx1.max()) < healed.shape[4]
    img = np.random.default_rng(7).integers(0, 256, (100, 80, 3), dtype=np.uint8)
    rect = (5, 5, 70, 90)
    assert np.array_equal(shapefit.fit(img, rect, m), _dlib_points(img, rect, dlib.shape_predictor(str(path))))


def test_a_rectangle_far_off_the_image_reads_nothing_and_does_not_crash(fast):
    img = np.full((60, 50, 3), 200, np.uint8)
    for rect in [(5000, 4000, 5080, 4080), (-3000, -5, -2920, 75)]:     # off the image: dlib's points
        assert np.array_equal(fast.fit(img, rect), _dlib_points(img, rect))
    for rect in [(10 ** 12, 10 ** 12, 10 ** 12 + 80, 10 ** 12 + 80), (-(10 ** 15), 0, -(10 ** 15) + 80, 80)]:
        pts = fast.fit(img, rect)                     # coordinates past any integer pixel index
        assert pts.shape == (68, 2) and np.isfinite(pts).all()
