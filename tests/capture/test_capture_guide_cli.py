"""Live guidance, the Template and the ``kiosk normalize`` command."""
from __future__ import annotations

import json

import numpy as np
import pytest
from tests.capture.capture_helpers import load_rgb
from click.testing import CliRunner
from PIL import Image

from capture import Guide, Template, TemplateError, guide, normalize
from capture.cli import normalize_command


@pytest.fixture(scope="module")
def preview(frll_wide) -> np.ndarray:
    """A 640×480 preview of a well-framed student (portrait centred in a landscape frame)."""
    import cv2

    h, w = frll_wide.shape[:2]
    k = 480 / h
    img = cv2.resize(np.ascontiguousarray(frll_wide), (round(w * k), 480), interpolation=cv2.INTER_AREA)
    pad = (640 - img.shape[1]) // 2
    return cv2.copyMakeBorder(img, 0, 0, pad, 640 - img.shape[1] - pad, cv2.BORDER_REPLICATE)


# ---------------------------------------------------------------------- guidance
def test_guide_ready_frame_predicts_where_things_land(preview):
    h = guide(preview, capture_size=(1280, 960))
    assert h.face_found and h.faces == 1
    assert h.ready, h.codes
    assert not [x for x in h.hints if x.severity == "block"]
    p = h.predicted
    assert p["feasible"]
    assert 56 <= p["crown_y"] <= 104 and 206 <= p["eye_y"] <= 294
    assert 222 <= p["centre_x"] <= 258 and p["eye_distance"] >= 90
    # Overlay: the output rectangle lies inside the preview; bands are ordered top to bottom.
    crop = np.array(h.overlay["crop"])
    assert crop.shape == (4, 2)
    assert (crop[:, 0] >= -1).all() and (crop[:, 0] <= 640).all() and (crop[:, 1] >= -1).all() and (crop[:, 1] <= 480).all()
    crown_line = np.array(h.overlay["crown_band"][0])
    eye_line = np.array(h.overlay["eye_band"][0])
    assert crown_line[:, 1].mean() < eye_line[:, 1].mean()
    eyes = np.array(h.overlay["eyes"])
    assert abs(eyes[:, 1].mean() - np.array(h.overlay["eye_band"]).reshape(-1, 2)[:, 1].mean()) < 20
    d = h.to_dict()
    text = json.dumps(d, ensure_ascii=False)
    assert '"ready": true' in text and d["frame_size"] == [640, 480] and d["capture_size"] == [1280, 960]


def test_guide_agrees_with_normalize_on_the_captured_frame(frll_wide):
    """Guidance on a 4× smaller preview predicts the geometry the normaliser then produces."""
    import cv2

    full = np.ascontiguousarray(frll_wide)
    h, w = full.shape[:2]
    prev = cv2.resize(full, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
    hints = guide(prev, capture_size=(w, h))
    r = normalize(full)
    for k in ("eye_y", "crown_y", "centre_x"):
        assert abs(hints.predicted[k] - r.geometry[k]) <= 12, k
    assert abs(hints.predicted["face_width"] - r.geometry["face_width"]) <= 0.06 * r.geometry["face_width"]


def test_guide_too_far_and_too_close(preview, frll):
    import cv2

    # The same preview judged as the capture itself (640×480): the face is too small.
    h = guide(preview)
    assert h.face_found and not h.ready and h.codes[0] == "too_far"
    assert h.hints[0].zh == "太远了：请靠近一点"
    # A close-up filling the frame.
    rgb = np.ascontiguousarray(load_rgb(frll)[430:1130, 300:1050])
    close = cv2.resize(rgb, (640, 480), interpolation=cv2.INTER_AREA)
    h = guide(close, capture_size=(1280, 960))
    assert h.face_found and not h.ready
    assert "too_close" in h.codes
    assert any(x.zh.startswith("太近了") for x in h.hints)


def test_guide_no_face_dark_and_off_centre(preview):
    h = guide(np.full((480, 640, 3), 90, np.uint8))
    assert not h.face_found and h.codes == ["no_face"] and not h.ready
    json.dumps(h.to_dict())
    dark = (preview.astype(np.float32) * 0.35).astype(np.uint8)
    h = guide(dark, capture_size=(1280, 960))
    assert h.face_found and "too_dark" in h.codes
    assert h.numbers["face_luma"] < 100
    shifted = np.roll(preview, 200, axis=1)  # student far to the image's right
    h = guide(shifted, capture_size=(1280, 960))
    assert h.face_found and "off_centre_right" in h.codes
    assert "左" in next(x.zh for x in h.hints if x.code == "off_centre_right")


def test_guide_tracker_reuses_the_crown_measurement(preview):
    g = Guide(capture_size=(1280, 960))  # seg_every = 4
    runs = [g(preview) for _ in range(6)]
    assert [h.numbers["crown_source"] for h in runs] == ["mask", "tracked", "tracked", "tracked", "mask", "tracked"]
    assert abs(runs[0].predicted["crown_y"] - runs[1].predicted["crown_y"]) < 2
    assert all(h.ready for h in runs)


def test_guide_tracker_searches_one_tier_per_empty_frame_and_finds_a_newcomer(preview, monkeypatch):
    """With nobody in front of the camera the tracker runs one detection tier per frame
    (so an empty preview stays fluid); a student stepping in is found within as many
    frames as there are tiers."""
    import sys

    guide_mod = sys.modules["capture.guide"]   # ``capture.guide`` the name is the function

    calls = []
    real = guide_mod.PhotoContext

    def counting(*a, **kw):
        calls.append(kw.get("detection"))
        return real(*a, **kw)

    monkeypatch.setattr(guide_mod, "PhotoContext", counting)
    g = Guide(capture_size=(1280, 960))
    blank = np.full_like(preview, 120)
    g(blank)                                   # first empty frame: every tier is tried once
    n_tiers = len(g.params.tiers)
    assert len(calls) == n_tiers
    calls.clear()
    for _ in range(4):
        assert not g(blank).face_found
    assert len(calls) == 4                     # then one tier per empty frame
    found_after = next(i for i in range(1, n_tiers + 1) if g(preview).face_found)
    assert found_after <= n_tiers


def test_guide_accepts_jpeg_bytes(preview):
    import io

    buf = io.BytesIO()
    Image.fromarray(preview).save(buf, "JPEG", quality=85)
    assert guide(buf.getvalue(), capture_size=(1280, 960)).face_found


# ---------------------------------------------------------------------- template
def test_template_defaults_and_mapping():
    t = Template()
    assert (t.width, t.height) == (480, 640)
    assert t.crown_band == (64, 80) and t.eye_band == (250, 275)
    assert t.face_width_target == 240 and t.centre_x == 240 and t.min_eye_distance == 90
    assert t.jpeg_quality_min == 60 and t.dpi == 300
    assert t.target_bytes == (30 * 1024, 40_000) and t.max_bytes == 60_000
    t2 = Template.from_mapping({"crown_band": [66, 78], "max_upscale": 1.0, "dpi": 300})
    assert t2.crown_band == (66.0, 78.0) and t2.max_upscale == 1.0
    assert Template.from_mapping(t.to_dict()) == t
    with pytest.raises(TemplateError, match="crown_bnad"):
        Template.from_mapping({"crown_bnad": [60, 80]})
    with pytest.raises(TemplateError, match="eye_band"):
        Template.from_mapping({"eye_band": [250]})
    with pytest.raises(TemplateError):
        Template.from_mapping({"crown_band": [100, 60]})
    with pytest.raises(TemplateError):
        Template.from_mapping({"max_upscale": 0.5})
    with pytest.raises(TemplateError):
        Template.from_mapping({"width": 480.5})


# ---------------------------------------------------------------------- CLI
def test_cli_writes_the_photo(frll, tmp_path):
    out = tmp_path / "out.jpg"
    res = CliRunner().invoke(normalize_command, [str(frll), str(out)])
    assert res.exit_code == 0, res.output
    assert "已生成" in res.output
    with Image.open(out) as im:
        assert im.size == (480, 640) and im.info["dpi"] == (300, 300)
    res = CliRunner().invoke(normalize_command, [str(frll), str(tmp_path / "o2.jpg"), "--json"])
    assert res.exit_code == 0
    d = json.loads(res.output)
    assert d["ok"] and d["bytes"] == (tmp_path / "o2.jpg").stat().st_size
    assert d["sha256"] and d["transform"]["output_size"] == [480, 640]


def test_cli_refuses_with_code_and_messages(portrait, tmp_path):
    out = tmp_path / "out.jpg"
    res = CliRunner().invoke(normalize_command, [str(portrait("obama_biden_two_people.jpg")), str(out), "--json"])
    assert res.exit_code == 1
    d = json.loads(res.output)
    assert d["ok"] is False and d["error"]["code"] == "multiple_faces"
    assert "人脸" in d["error"]["message_zh"] and d["error"]["message_en"]
    assert not out.exists()
    res = CliRunner().invoke(normalize_command, [str(portrait("dorsey_plain.jpg")), str(out)])
    assert res.exit_code == 1
    assert "头顶被裁切" in res.output and "head_cut_top" in res.output


def test_cli_usage_errors(tmp_path):
    res = CliRunner().invoke(normalize_command, [str(tmp_path / "missing.jpg"), str(tmp_path / "o.jpg")])
    assert res.exit_code == 2
    res = CliRunner().invoke(normalize_command, [])
    assert res.exit_code == 2
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    res = CliRunner().invoke(normalize_command, [str(bad), str(tmp_path / "o.jpg"), "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["error"]["code"] == "undecodable"


def test_kiosk_group_registers_normalize(frll, tmp_path):
    from kiosk.cli import main

    res = CliRunner().invoke(main, ["normalize", str(frll), str(tmp_path / "o.jpg"), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["ok"]


@pytest.mark.parametrize("bad, code", [(b"junk", "undecodable"), (np.zeros((480, 640, 3), np.float32), "bad_frame"),
                                       (np.zeros((0, 0, 3), np.uint8), "bad_frame"), ("frame.jpg", "bad_frame")])
def test_guide_bad_input_is_a_coded_error(bad, code):
    from capture import CaptureError

    with pytest.raises(CaptureError) as ei:
        guide(bad)
    assert ei.value.code == code and ei.value.message_zh
