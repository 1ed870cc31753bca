"""Hot folder: slow writers, corrupt files, never twice."""
from __future__ import annotations

import os
import threading
import time

import pytest

from capture import open_source
from capture.hotfolder import HotFolderSource

SETTLE = 0.25


def _poll_until(src, deadline: float, *, stop_after_first: bool = False, period: float = 0.03):
    """Poll ``src.read()`` until ``deadline`` (monotonic); returns ``[(time, frame)]``."""
    got = []
    while time.monotonic() < deadline:
        fr = src.read()
        if fr is not None:
            got.append((time.monotonic(), fr))
            if stop_after_first:
                break
        time.sleep(period)
    return got


def _slow_write(path, data: bytes, chunks: int, pause: float, long_pause_at: int | None = None,
                long_pause: float = 0.0, done: dict | None = None) -> None:
    step = -(-len(data) // chunks)
    with open(path, "wb") as f:
        for i in range(chunks):
            f.write(data[i * step:(i + 1) * step])
            f.flush()
            os.fsync(f.fileno())
            time.sleep(long_pause if i == long_pause_at else pause)
    if done is not None:
        done["t"] = time.monotonic()


def test_slow_writer_is_picked_up_once_complete(tmp_path, frll):
    data = frll.read_bytes()
    src = HotFolderSource(tmp_path, settle_seconds=SETTLE, incomplete_timeout=10)
    src.open()
    done: dict = {}
    # 8 chunks; after the 4th the writer stalls for 4× the settle time, so the half
    # file looks "stable" — it must still not be taken (no EOI, does not decode).
    writer = threading.Thread(target=_slow_write, args=(tmp_path / "IMG_0001.JPG", data, 8, 0.05, 3, 4 * SETTLE, done))
    writer.start()
    got = _poll_until(src, time.monotonic() + 8 * 0.05 + 4 * SETTLE + 2.0)
    writer.join()
    assert len(got) == 1, [f.name for _, f in got]
    t_got, fr = got[0]
    assert fr.data == data and fr.name == "IMG_0001.JPG"
    assert t_got >= done["t"]
    assert src.problems == []
    # Never picked twice, however often it is polled.
    assert _poll_until(src, time.monotonic() + 3 * SETTLE) == []
    src.close()


def test_corrupt_files_are_reported_moved_and_skipped(tmp_path, frll):
    seen = []
    src = HotFolderSource(tmp_path, settle_seconds=SETTLE, incomplete_timeout=4 * SETTLE, on_problem=seen.append)
    src.open()
    good = frll.read_bytes()
    (tmp_path / "garbage.jpg").write_bytes(os.urandom(5000))
    (tmp_path / "fake.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(3000) + b"\xff\xd9")
    (tmp_path / "cut.jpg").write_bytes(good[: len(good) // 3])
    (tmp_path / "good.jpg").write_bytes(good)
    got = _poll_until(src, time.monotonic() + 8 * SETTLE)
    assert [f.name for _, f in got] == ["good.jpg"]
    codes = {p.name: p.code for p in src.problems}
    assert codes == {"garbage.jpg": "not_an_image", "fake.jpg": "undecodable", "cut.jpg": "truncated"}
    assert [p.name for p in seen] == [p.name for p in src.problems]
    errors = tmp_path / "_errors"
    for name in codes:
        assert not (tmp_path / name).exists()
        assert (errors / name).exists()
        assert codes[name] in (errors / f"{name}.error.txt").read_text(encoding="utf-8")
    assert all(p.message_zh and p.message_en for p in src.problems)
    src.close()


def test_truncated_file_detected_even_with_lenient_pillow(tmp_path, frll):
    """face_recognition turns on LOAD_TRUNCATED_IMAGES; the hot folder must still wait."""
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = True
    src = HotFolderSource(tmp_path, settle_seconds=SETTLE, incomplete_timeout=60)
    src.open()
    data = frll.read_bytes()
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    assert _poll_until(src, time.monotonic() + 4 * SETTLE) == []
    assert src.problems == []  # still waiting: a writer may resume
    with open(tmp_path / "half.jpg", "ab") as f:
        f.write(data[len(data) // 2:])
    got = _poll_until(src, time.monotonic() + 4 * SETTLE, stop_after_first=True)
    assert len(got) == 1 and got[0][1].data == data


def test_existing_temp_and_renamed_files(tmp_path, frll, portrait):
    data = frll.read_bytes()
    (tmp_path / "old.jpg").write_bytes(data)  # there before the source opened
    src = open_source({"kind": "hotfolder", "path": str(tmp_path), "settle_seconds": SETTLE})
    (tmp_path / "new.jpg.part").write_bytes(data)  # temporary name: ignored
    (tmp_path / ".hidden.jpg").write_bytes(data)
    (tmp_path / "notes.txt").write_text("x")
    assert _poll_until(src, time.monotonic() + 3 * SETTLE) == []
    os.replace(tmp_path / "new.jpg.part", tmp_path / "new.jpg")  # the usual atomic hand-over
    got = _poll_until(src, time.monotonic() + 4 * SETTLE)
    assert [f.name for _, f in got] == ["new.jpg"]
    # The same name written again with a new photo is a new capture.
    other = portrait("jobs_portrait.jpg").read_bytes()
    time.sleep(0.02)
    (tmp_path / "new.jpg").write_bytes(other)
    got = _poll_until(src, time.monotonic() + 4 * SETTLE)
    assert [f.data == other for _, f in got] == [True]
    src.close()


def test_done_dir_and_missing_folder(tmp_path, frll):
    src = HotFolderSource(tmp_path, settle_seconds=SETTLE, done_dir="_done")
    src.open()
    (tmp_path / "a.jpg").write_bytes(frll.read_bytes())
    fr = src.wait(timeout=5 * SETTLE, poll=0.03)
    assert fr is not None and fr.meta["moved_to"].endswith("_done/a.jpg")
    assert (tmp_path / "_done" / "a.jpg").exists() and not (tmp_path / "a.jpg").exists()
    from capture import SourceError

    with pytest.raises(SourceError) as ei:
        open_source({"kind": "hotfolder", "path": str(tmp_path / "nope")})
    assert ei.value.code == "not_found"
