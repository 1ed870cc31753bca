"""capture.prepare: the shared station/intake path from received bytes to a checked photo."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from capture.prepare import prepare
from tests.qc import fixtures as fx


def _jpeg(rgb, quality=92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="module")
def frll(corpus_dir):
    return corpus_dir / "frll_009_neutral_front.jpg"


@pytest.fixture(scope="module")
def camera_jpeg(frll):
    return _jpeg(fx.camera_frame(frll))


def test_camera_frame_is_normalised_and_passes(camera_jpeg):
    p = prepare(camera_jpeg, mode="normalize", want_encoding=True)
    assert p.refusal is None and p.normalized and p.verdict == "pass", [c.to_dict() for c in p.report.problems()]
    assert Image.open(io.BytesIO(p.spec)).size == (480, 640)
    assert p.transform["output_size"] == [480, 640] or tuple(p.transform["output_size"]) == (480, 640)
    assert p.encoding is not None and p.encoding.shape == (128,)
    assert isinstance(p.phash, int)
    assert p.report["identity_match"].status.value == "not_assessed"


def test_spec_size_file_is_checked_as_is_with_bytes_preserved(frll):
    spec = fx.make_spec_photo(frll)
    p = prepare(spec, mode="auto")
    assert not p.normalized and p.spec == spec and p.verdict == "pass"


def test_original_is_normalised_in_auto_mode(camera_jpeg):
    p = prepare(camera_jpeg, mode="auto")
    assert p.normalized and p.spec != camera_jpeg


def test_frame_without_a_face_is_refused_with_reason():
    blank = np.full((720, 1280, 3), (100, 197, 255), np.uint8)
    p = prepare(_jpeg(blank), mode="normalize")
    assert p.report is None and p.spec is None and p.verdict == "unusable"
    assert p.refusal["code"] == "no_face" and "人脸" in p.refusal["message_zh"]


def test_garbage_bytes_give_a_failed_report_not_an_exception():
    p = prepare(b"definitely not an image", mode="auto")
    assert p.verdict == "fail" and p.report["jpeg_format"].status.value == "fail"


def test_reference_of_the_same_person_passes_identity(camera_jpeg, frll):
    p = prepare(camera_jpeg, mode="normalize", reference=frll.read_bytes())
    assert p.report["identity_match"].status.value == "pass"
