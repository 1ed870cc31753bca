"""y4m files, the source registry and the file/synthetic/browser/OpenCV sources."""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from tests.capture.capture_helpers import assert_spec_photo, measure_output
from PIL import Image

from capture import Frame, NormalizeError, SourceError, make_source, normalize, open_source
from capture.devices import OpenCVSource
from capture.sources import BrowserSource, FileSource, SyntheticSource
from capture.y4m import Y4MError, Y4MReader, Y4MWriter, read_y4m, write_y4m


def _jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@pytest.fixture(scope="module")
def portrait_frame(frll_wide) -> np.ndarray:
    """A realistic 1280×960-ish frame: the widened frll portrait, odd-sized on purpose."""
    import cv2

    h, w = frll_wide.shape[:2]
    k = 961 / h
    return cv2.resize(np.ascontiguousarray(frll_wide), (int(w * k) | 1, 961), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------------- y4m
def test_y4m_round_trip_odd_size_many_frames(portrait_frame, tmp_path):
    frames = [portrait_frame, portrait_frame[:, ::-1], (portrait_frame * 0.6).astype(np.uint8)]
    path = tmp_path / "cam.y4m"
    header = write_y4m(path, frames, fps=30)
    h, w = portrait_frame.shape[:2]
    assert (header.width, header.height) == (w - 1, h - 1)  # odd sizes lose the last column/row
    first = path.read_bytes().split(b"\n", 1)[0]
    assert first == f"YUV4MPEG2 W{w - 1} H{h - 1} F30:1 Ip A1:1 C420jpeg".encode()
    assert path.stat().st_size == len(first) + 1 + 3 * (6 + (w - 1) * (h - 1) * 3 // 2)
    hdr, back = read_y4m(path)
    assert hdr == header and len(back) == 3
    for orig, got in zip(frames, back):
        assert got.shape == (h - 1, w - 1, 3)
        assert np.abs(got.astype(int) - orig[: h - 1, : w - 1].astype(int)).mean() < 3.0


def test_y4m_is_readable_by_ffmpeg(portrait_frame, tmp_path):
    """Chromium and FFmpeg parse the same container: OpenCV's FFmpeg backend must read ours."""
    import cv2

    path = tmp_path / "cam.y4m"
    write_y4m(path, portrait_frame, repeat=2)
    src = OpenCVSource(device=str(path), backend="ffmpeg")
    with src:
        if src.actual.get("backend") != "FFMPEG":
            pytest.skip("OpenCV without FFmpeg")
        got = [f.rgb for f in src.frames()]
    _, ours = read_y4m(path)
    assert len(got) == 2
    assert np.abs(got[0].astype(int) - ours[0].astype(int)).mean() < 3.0
    del cv2


def test_y4m_errors(tmp_path, portrait_frame):
    bad = tmp_path / "bad.y4m"
    bad.write_bytes(b"RIFF....")
    with pytest.raises(Y4MError):
        Y4MReader(bad)
    bad.write_bytes(b"YUV4MPEG2 W10 H10 F30:1 C422\n")
    with pytest.raises(Y4MError, match="C422"):
        Y4MReader(bad)
    with pytest.raises(Y4MError):
        write_y4m(tmp_path / "f.y4m", [np.zeros((4, 4, 3), np.float32)])
    with Y4MWriter(tmp_path / "m.y4m") as w:
        w.write(np.zeros((10, 10, 3), np.uint8))
        with pytest.raises(Y4MError, match="stream is"):
            w.write(np.zeros((12, 10, 3), np.uint8))
    # A truncated last frame is dropped.
    p = tmp_path / "t.y4m"
    write_y4m(p, [np.zeros((8, 8, 3), np.uint8)] * 2)
    p.write_bytes(p.read_bytes()[:-10])
    assert len(read_y4m(p)[1]) == 1


# ---------------------------------------------------------------------- registry
def test_registry_builds_sources_from_config(tmp_path):
    assert isinstance(make_source({"kind": "browser"}), BrowserSource)
    assert isinstance(make_source({"kind": "file", "path": str(tmp_path / "x.jpg")}), FileSource)
    src = make_source({"kind": "opencv", "device": 0, "width": 1280, "height": 720})
    assert isinstance(src, OpenCVSource) and (src.width, src.height) == (1280, 720)
    assert not src.is_open  # building never opens a camera


@pytest.mark.parametrize("config, code, key", [
    ({"kind": "webcam"}, "unknown_kind", None),
    ({"device": 0}, "unknown_kind", None),
    ({"kind": "opencv", "resolution": "hd"}, "bad_config", "resolution"),
    ({"kind": "opencv", "width": "1280"}, "bad_config", "width"),
    ({"kind": "file"}, "bad_config", "path"),
    ({"kind": "hotfolder", "path": "/tmp", "settle_seconds": True}, "bad_config", "settle_seconds"),
    ({"kind": "opencv", "backend": "directshow"}, "bad_config", "backend"),
])
def test_registry_rejects_bad_config(config, code, key):
    with pytest.raises(SourceError) as ei:
        make_source(config)
    assert ei.value.code == code
    if key:
        assert ei.value.details["key"] == key and key in ei.value.message_en


# ---------------------------------------------------------------------- file / synthetic
def test_file_source_returns_the_bytes_once(frll):
    with open_source({"kind": "file", "path": str(frll)}) as src:
        fr = src.read()
        assert fr.data == frll.read_bytes() and fr.name == frll.name and fr.format == "JPEG"
        assert src.read() is None
    with pytest.raises(SourceError) as ei:
        open_source({"kind": "file", "path": "/nonexistent/x.jpg"})
    assert ei.value.code == "not_found"
    with pytest.raises(SourceError) as ei:
        FileSource(frll).read()
    assert ei.value.code == "closed"


def test_synthetic_source_plays_and_loops_a_y4m(portrait_frame, tmp_path):
    path = tmp_path / "cam.y4m"
    write_y4m(path, [portrait_frame, portrait_frame[:, ::-1]], fps=25)
    with open_source({"kind": "synthetic", "path": str(path), "loop": True}) as src:
        frames = [src.read() for _ in range(5)]
    assert all(isinstance(f, Frame) and f.rgb is not None for f in frames)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert np.array_equal(frames[0].rgb, frames[2].rgb) and not np.array_equal(frames[0].rgb, frames[1].rgb)
    assert frames[1].timestamp - frames[0].timestamp == pytest.approx(1 / 25)
    with open_source({"kind": "synthetic", "path": str(path), "loop": False}) as src:
        assert len(list(src.frames())) == 2


def test_synthetic_source_from_an_image_and_as_jpeg(frll):
    with open_source({"kind": "synthetic", "path": str(frll), "loop": False}) as src:
        fr = src.read()
        assert fr.rgb.shape == (1350, 1350, 3)
        assert src.read() is None
    with open_source({"kind": "synthetic", "path": str(frll), "encode": "jpeg"}) as src:
        a, b = src.read(), src.read()
        assert a.format == "JPEG" and b.format == "JPEG" and b.index == 1


def test_a_frame_from_the_fake_camera_file_normalises(portrait_frame, tmp_path):
    """What the browser tests will do: a .y4m made from a real portrait, played back."""
    path = tmp_path / "cam.y4m"
    write_y4m(path, portrait_frame, repeat=3)
    with open_source({"kind": "synthetic", "path": str(path)}) as src:
        fr = src.read()
    r = normalize(fr)
    assert_spec_photo(measure_output(r.jpeg))


# ---------------------------------------------------------------------- browser
def test_browser_source_validates_and_hands_over_the_newest(portrait_frame):
    src = BrowserSource()
    src.open()
    body = _jpeg(portrait_frame)
    fr = src.push(body)
    assert fr.data == body and fr.meta["format"] == "JPEG" and fr.meta["width"] == portrait_frame.shape[1]
    assert src.read() is fr and src.read() is None
    src.push(body)
    newest = src.push(_jpeg(portrait_frame[:, ::-1]))
    assert src.read() is newest and src.dropped == 1
    png = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(portrait_frame)).save(png, "PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    assert src.push(url).format == "PNG"
    src.close()


@pytest.mark.parametrize("make, code", [
    (lambda j: b"", "empty"),
    (lambda j: j * 400, "too_large"),
    (lambda j: b"GIF89a" + j, "bad_format"),
    (lambda j: j[: len(j) // 2], "undecodable"),
    (lambda j: b"\xff\xd8\xff\xe0" + b"\x00" * 200, "undecodable"),
    (lambda j: _jpeg(np.zeros((100, 120, 3), np.uint8)), "too_small"),
    (lambda j: "data:image/jpeg;base64,@@@", "bad_format"),
    (lambda j: 42, "bad_format"),
])
def test_browser_source_refuses_bad_posts(portrait_frame, make, code):
    src = BrowserSource(max_bytes=5_000_000)
    with pytest.raises(SourceError) as ei:
        src.push(make(_jpeg(portrait_frame)))
    assert ei.value.code == code
    assert ei.value.message_zh and ei.value.message_en


# ---------------------------------------------------------------------- OpenCV device
def test_opencv_source_reads_a_video_file(portrait_frame, tmp_path):
    """No camera here: cv2.VideoCapture opens a video file the same way (FFmpeg backend),
    which exercises the device source end to end."""
    import cv2

    path = tmp_path / "cam.avi"
    h, w = 480, 640
    small = cv2.resize(np.ascontiguousarray(portrait_frame), (w, h), interpolation=cv2.INTER_AREA)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    if not vw.isOpened():
        pytest.skip("this OpenCV build cannot write MJPG/AVI")
    for k in range(4):
        vw.write(cv2.cvtColor(np.roll(small, 10 * k, axis=1), cv2.COLOR_RGB2BGR))
    vw.release()
    with open_source({"kind": "opencv", "device": str(path), "width": 640, "height": 480}) as src:
        assert src.actual["width"] == 640 and src.actual["height"] == 480
        frames = list(src.frames())
    assert len(frames) == 4
    assert frames[0].rgb.shape == (480, 640, 3) and frames[0].source == f"opencv:{path}"
    # RGB order (not OpenCV's BGR): compare with the frame written.
    assert np.abs(frames[0].rgb.astype(int) - small.astype(int)).mean() < 6.0


def test_opencv_source_reports_a_missing_device(tmp_path):
    with pytest.raises(SourceError) as ei:
        open_source({"kind": "opencv", "device": str(tmp_path / "no-such-camera.avi")})
    assert ei.value.code == "device_unavailable"
    assert "无法打开摄像头" in ei.value.message_zh


def test_only_devices_module_opens_opencv_captures():
    """Architecture rule: one module opens cameras."""
    from pathlib import Path

    import capture

    pkg = Path(capture.__file__).parent
    users = sorted(p.name for p in pkg.glob("*.py") if "VideoCapture(" in p.read_text(encoding="utf-8"))
    assert users == ["devices.py"]


def test_capture_does_not_import_web_or_database_code():
    from pathlib import Path

    import capture

    for p in Path(capture.__file__).parent.glob("*.py"):
        text = p.read_text(encoding="utf-8")
        for banned in ("import flask", "from flask", "import sqlalchemy", "from sqlalchemy", "import kiosk", "from kiosk"):
            assert banned not in text, f"{p.name}: {banned}"


def test_normalize_error_is_json_ready(portrait):
    import json

    with pytest.raises(NormalizeError) as ei:
        normalize(portrait("obama_biden_two_people.jpg"))
    json.dumps(ei.value.to_dict(), ensure_ascii=False)
