"""Per-check pass and fail cases (synthetic and real) and runner robustness."""
from __future__ import annotations

import io

from tests.qc import fixtures as fx
import numpy as np
import pytest
from PIL import Image

import qc
from qc import Status
from qc.checks import BY_NAME, jpeg_quality
from qc.runner import make_context


def _rgb(clean_photo) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(clean_photo)).convert("RGB"))


def _run(ctx, profile, name):
    return BY_NAME[name].check(ctx, profile.thresholds(name))


# ---------------------------------------------------------------- file-level
@pytest.mark.parametrize("data, code", [
    (b"", "jpeg_format.empty"),
    (b"this is not an image at all" * 20, "jpeg_format.not_an_image"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "jpeg_format.undecodable"),
])
def test_unreadable_files_fail_jpeg_format_without_traceback(data, code, profile):
    r = qc.check_photo(data, name="bad.jpg")
    assert r["jpeg_format"].status is Status.FAIL
    assert r["jpeg_format"].code == code
    assert r.verdict is Status.FAIL
    assert r["file_size"].status is Status.FAIL  # measured on bytes even without pixels
    assert all(c.status is Status.NOT_ASSESSED for c in r.checks
               if c.check not in ("jpeg_format", "file_size"))


def test_truncated_jpeg_fails(clean_photo):
    r = qc.check_photo(clean_photo[: len(clean_photo) // 3], name="cut.jpg")
    assert r["jpeg_format"].status is Status.FAIL
    assert r["jpeg_format"].code in ("jpeg_format.truncated", "jpeg_format.undecodable")


def test_png_is_not_jpeg(clean_photo):
    b = io.BytesIO()
    Image.open(io.BytesIO(clean_photo)).save(b, "PNG")
    r = qc.check_photo(b.getvalue(), name="x.png")
    assert r["jpeg_format"].code == "jpeg_format.not_jpeg" and r["jpeg_format"].status is Status.FAIL
    assert r["jpeg_quality"].status is Status.NOT_ASSESSED


def test_extension_warns(clean_photo):
    r = qc.check_photo(clean_photo, name="photo.JPEG")
    assert r["jpeg_format"].status is Status.WARN and r["jpeg_format"].code == "jpeg_format.extension"
    assert qc.check_photo(clean_photo, name="photo.jpg")["jpeg_format"].status is Status.PASS


def test_dimensions(clean_photo, clean_report):
    assert clean_report["dimensions"].status is Status.PASS
    rot = fx.encode_jpeg(np.ascontiguousarray(np.rot90(_rgb(clean_photo))))
    r = qc.check_photo(rot, name="r.jpg")
    assert r["dimensions"].status is Status.FAIL and r["dimensions"].code == "dimensions.rotated"


def test_colour_mode_rejects_grey_and_grey_content(clean_photo, clean_report):
    assert clean_report["colour_mode"].status is Status.PASS
    b = io.BytesIO()
    Image.open(io.BytesIO(clean_photo)).convert("L").save(b, "JPEG", quality=90, dpi=(300, 300))
    r = qc.check_photo(b.getvalue(), name="g.jpg")
    assert r["colour_mode"].status is Status.FAIL and r["colour_mode"].code == "colour_mode.mode_l"
    grey_rgb = np.repeat(np.asarray(Image.open(io.BytesIO(clean_photo)).convert("L"))[..., None], 3, axis=2)
    r2 = qc.check_photo(fx.encode_jpeg(grey_rgb), name="g2.jpg")
    assert r2["colour_mode"].status is Status.FAIL and r2["colour_mode"].code == "colour_mode.grey"


def test_colour_mode_rejects_rgba(clean_photo):
    b = io.BytesIO()
    Image.open(io.BytesIO(clean_photo)).convert("RGBA").save(b, "PNG")
    r = qc.check_photo(b.getvalue(), name="a.png")
    assert r["colour_mode"].status is Status.FAIL and r["colour_mode"].code == "colour_mode.mode_rgba"


def test_dpi(clean_photo, clean_report):
    assert clean_report["dpi"].status is Status.PASS and clean_report["dpi"].measured == "300×300"
    r = qc.check_photo(fx.encode_jpeg(_rgb(clean_photo), dpi=72), name="d.jpg")
    assert r["dpi"].status is Status.WARN and r["dpi"].code == "dpi.wrong"


@pytest.mark.parametrize("q", [35, 59, 60, 75, 90, 95])
def test_jpeg_quality_estimate_is_exact_for_libjpeg(q, clean_photo):
    im = Image.open(io.BytesIO(clean_photo))
    b = io.BytesIO()
    im.save(b, "JPEG", quality=q)
    est, exact = jpeg_quality.estimate_quality(Image.open(io.BytesIO(b.getvalue())).quantization)
    assert (est, exact) == (q, True)
    r = qc.check_photo(b.getvalue(), name="q.jpg")
    assert r["jpeg_quality"].status is (Status.PASS if q >= 60 else Status.FAIL)


def test_file_size_bands(clean_report):
    assert clean_report["file_size"].status is Status.PASS
    flat = np.full((640, 480, 3), (100, 197, 255), np.uint8)
    tiny = fx.encode_jpeg(flat, quality=90)
    assert len(tiny) < 20 * 1024
    assert qc.check_photo(tiny, name="t.jpg")["file_size"].code == "file_size.too_small"
    warn = fx.pad_jpeg(tiny, 25 * 1024)
    assert qc.check_photo(warn, name="w.jpg")["file_size"].status is Status.WARN


def test_border_none_on_clean_and_found_on_letterbox(clean_report, corpus_ctx, profile):
    assert clean_report["border"].status is Status.PASS
    r = _run(corpus_ctx("obama_portrait_240p_letterbox.jpg"), profile, "border")
    assert r.status is Status.FAIL and r.measured >= 5


# ---------------------------------------------------------------- faces
def test_face_count_astronaut_patch_is_not_a_face(astronaut_path, grace_hopper_path):
    from qc.context import PhotoContext

    p = qc.load_profile()
    assert len(PhotoContext(astronaut_path, detection=p.detection).faces) == 1
    assert len(PhotoContext(grace_hopper_path, detection=p.detection).faces) == 1


def test_face_count_fails_for_two_faces_and_none(corpus_ctx, profile):
    assert _run(corpus_ctx("obama_biden_two_people.jpg"), profile, "face_count").status is Status.FAIL
    r0 = _run(corpus_ctx("dogs_collage.jpg"), profile, "face_count")
    assert r0.status is Status.FAIL and r0.code == "face_count.none"


def test_face_checks_not_assessed_without_single_face(corpus_ctx):
    r = qc.check_photo(corpus_ctx("obama_biden_two_people.jpg"))
    assert r["face_count"].status is Status.FAIL
    for name in ("eye_line", "head_top", "sharpness", "eyes_open", "identity_match"):
        assert r[name].status is Status.NOT_ASSESSED and r[name].code == f"{name}.no_single_face"


@pytest.mark.parametrize("name, check, status", [
    ("yale03_sleepy.png", "eyes_open", Status.FAIL),
    ("yale01_sleepy.png", "eyes_open", Status.WARN),
    ("yale03_normal.png", "eyes_open", Status.PASS),
    ("lacamoire_grey_studio.jpg", "mouth_closed", Status.FAIL),
    ("obama_speech.jpg", "mouth_closed", Status.FAIL),
    ("damon_plain_1.jpg", "mouth_closed", Status.PASS),
    ("harington_2.jpg", "head_pose", Status.FAIL),
    ("driver_profile.jpg", "head_pose", Status.FAIL),
    ("damon_plain_3.jpg", "head_pose", Status.PASS),
    ("yale01_leftlight.png", "lighting_symmetry", Status.FAIL),
    ("yale01_rightlight.png", "lighting_symmetry", Status.FAIL),
    ("dark_underexposed_man.jpg", "exposure", Status.FAIL),
    ("miranda_videoframe.png", "sharpness", Status.FAIL),
    ("jolie_white_bg.jpg", "eye_roll", Status.FAIL),
    ("obama_portrait_240p_letterbox.jpg", "eye_distance", Status.FAIL),
    ("synth_idphoto_red.jpg", "background_colour", Status.FAIL),
    ("harington_1.jpg", "natural_colour", Status.WARN),
])
def test_real_photo_cases(name, check, status, corpus_ctx, profile):
    r = _run(corpus_ctx(name), profile, check)
    assert r.status is status, (name, r)


def test_head_top_touching_row_zero_fails(clean_photo):
    rgb = _rgb(clean_photo)
    shifted = np.ascontiguousarray(np.vstack([rgb[90:], np.repeat(rgb[-1:], 90, axis=0)]))
    r = qc.check_photo(fx.encode_jpeg(shifted), name="s.jpg")
    assert r["head_top"].status is Status.FAIL and r["head_top"].code == "head_top.cut"


def test_shoulders_fail_when_body_leaves_the_frame(clean_photo, clean_report):
    assert clean_report["shoulders"].status is Status.PASS
    rgb = _rgb(clean_photo)
    moved = np.full_like(rgb, (100, 197, 255))
    moved[:, 170:] = rgb[:, :-170]    # the student sits far right: the left shoulder is gone
    r = qc.check_photo(fx.encode_jpeg(np.ascontiguousarray(moved)), name="s.jpg")
    assert r["shoulders"].status is Status.FAIL and r["shoulders"].code == "shoulders.no_shoulders"


def test_busy_backdrop_fails_background_checks(corpus_ctx, profile):
    ctx = corpus_ctx("obama_pressroom.jpg")
    assert _run(ctx, profile, "background_uniformity").status is not Status.PASS
    assert _run(ctx, profile, "background_colour").status is not Status.PASS
    busy = corpus_ctx("obama_speech.jpg")
    assert _run(busy, profile, "background_uniformity").status is Status.FAIL


# ---------------------------------------------------------------- identity
def test_identity_match(clean_photo, corpus_dir, corpus_ctx):
    same = qc.check_photo(clean_photo, reference=corpus_dir / "frll_009_neutral_front.jpg", name="c.jpg")
    assert same["identity_match"].status is Status.PASS and same["identity_match"].measured < 0.3
    other_enc = corpus_ctx("jolie_white_bg.jpg").encoding
    diff = qc.check_photo(clean_photo, reference=other_enc, name="c.jpg")
    assert diff["identity_match"].status is Status.FAIL and diff["identity_match"].code == "identity_match.mismatch"
    bad = qc.check_photo(clean_photo, reference=b"garbage", name="c.jpg")
    assert bad["identity_match"].status is Status.NOT_ASSESSED
    assert bad["identity_match"].code == "identity_match.bad_reference"


# ---------------------------------------------------------------- runner
def test_crashing_check_is_not_assessed_and_others_run(clean_photo, monkeypatch):
    from qc.checks import eye_line

    def boom(ctx, t):
        raise RuntimeError("boom")

    monkeypatch.setattr(eye_line, "check", boom)
    r = qc.check_photo(clean_photo, name="c.jpg")
    assert r["eye_line"].status is Status.NOT_ASSESSED and r["eye_line"].code == "eye_line.error"
    assert r["head_top"].status is Status.PASS and len(r.checks) == 29


def test_report_dict_shape(clean_report):
    d = clean_report.to_dict()
    assert d["verdict"] == "pass" and d["profile"] == "chsi_xueli_v1" and d["profile_version"]
    c = d["checks"][0]
    for k in ("check", "status", "measured", "expected", "code", "message_zh", "message_en", "label_zh"):
        assert k in c


def test_array_input_works_without_file_facts(clean_photo):
    r = qc.check_photo(_rgb(clean_photo))
    assert r["file_size"].status is Status.NOT_ASSESSED
    assert r["eye_line"].status is Status.PASS


def test_import_is_cheap():
    import subprocess
    import sys

    code = "import sys, qc; print('cv2' in sys.modules, 'face_recognition' in sys.modules, 'dlib' in sys.modules, 'flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False", "False"]


def test_qc_does_not_import_flask_sqlalchemy_or_kiosk():
    from pathlib import Path

    root = Path(qc.__file__).parent
    for p in root.rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        for bad in ("import flask", "from flask", "import sqlalchemy", "from sqlalchemy", "from kiosk", "import kiosk"):
            assert bad not in text, (p, bad)
