"""The station's in-memory runtime: a server camera's reader thread must not outlive the
interpreter's orderly shutdown.

The reader is a daemon thread that sits inside OpenCV with the GIL released.  Left running
at exit, CPython ends it from inside OpenCV's C++ frames when it asks for the GIL back,
and the process aborts (exit 134, "terminate called without an active exception") — seen
once at the end of a full test run, and reproduced 3 times in 40 short runs of a process
that exits with a camera open.  Whether a given run aborts is a race, so the test checks
the cause instead: by the time the last exit handler runs, no reader may be alive.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from capture import write_y4m

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import atexit, sys, threading

    def last_word():   # registered first, so it runs after every other exit handler
        alive = [t for t in threading.enumerate() if t.name == "station-camera" and t.is_alive()]
        print("readers alive at exit:", len(alive), flush=True)

    atexit.register(last_word)
    from kiosk.web.station.runtime import StationRuntime

    rt = StationRuntime()
    cam = rt.camera(7, {"kind": "opencv", "device": sys.argv[1], "width": 320, "height": 240})
    frame = cam.latest(wait=10)
    print("frame:", None if frame is None else frame.shape, flush=True)
    # exit without ending the session, as a stopped web process or a test run does
""")


def _video(tmp_path: Path) -> Path:
    path = tmp_path / "camera.y4m"
    frames = np.zeros((4, 240, 320, 3), np.uint8)
    frames[:, 60:180, 100:220] = (40, 90, 200)
    write_y4m(path, frames)
    return path


def test_an_open_server_camera_is_stopped_before_the_process_exits(tmp_path):
    r = subprocess.run([sys.executable, "-c", CHILD, str(_video(tmp_path))], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert "frame: (240, 320, 3)" in r.stdout, r.stdout + r.stderr   # the reader did run
    assert "readers alive at exit: 0" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr


def test_closing_a_camera_forgets_it_and_stops_its_reader(tmp_path):
    from kiosk.web.station import runtime

    rt = runtime.StationRuntime()
    cam = rt.camera(3, {"kind": "opencv", "device": str(_video(tmp_path)), "width": 320, "height": 240})
    assert cam.latest(wait=10) is not None
    assert cam in runtime._READING and cam._thread.is_alive()
    rt.forget(3)
    assert cam not in runtime._READING and not cam._thread.is_alive()


def _cfg(tmp_path: Path) -> dict:
    return {"kind": "opencv", "device": str(_video(tmp_path)), "width": 320, "height": 240}


def test_an_ended_session_cannot_open_its_camera_again(tmp_path):
    """A request that read its session just before the session ended (a preview poll)
    must not reopen the device after the end let it go."""
    import pytest

    from kiosk.web.station import runtime

    rt = runtime.StationRuntime()
    cam = rt.camera(4, _cfg(tmp_path))
    rt.forget(4)
    with pytest.raises(runtime.SessionEnded):
        rt.camera(4, _cfg(tmp_path))
    assert not rt._cameras and cam not in runtime._READING
    # other sessions are not affected
    other = rt.camera(5, _cfg(tmp_path))
    assert other.latest(wait=10) is not None
    rt.close_all()


def test_a_session_ended_while_its_camera_opens_gets_no_camera(tmp_path, monkeypatch):
    """The end arrives between the check and the device being open: the new camera is
    closed at once instead of being kept for an ended session."""
    import pytest

    from kiosk.web.station import runtime

    rt = runtime.StationRuntime()
    opened = []
    real_open = runtime.ServerCamera.open

    def open_then_end(self):
        real_open(self)
        opened.append(self)
        rt.forget(6)                       # the operator's "end session" lands now

    monkeypatch.setattr(runtime.ServerCamera, "open", open_then_end)
    with pytest.raises(runtime.SessionEnded):
        rt.camera(6, _cfg(tmp_path))
    assert len(opened) == 1 and opened[0] not in runtime._READING
    assert not opened[0]._thread.is_alive() and not rt._cameras


def test_retain_closes_cameras_without_barring_their_sessions(tmp_path):
    """``retain`` works from a list of open sessions read earlier: a session it did not
    know about yet may be new, so it is closed but may open its camera again."""
    from kiosk.web.station import runtime

    rt = runtime.StationRuntime()
    first = rt.camera(8, _cfg(tmp_path))
    rt.retain(set())
    assert first not in runtime._READING and not rt._cameras
    again = rt.camera(8, _cfg(tmp_path))
    assert again is not first and again.latest(wait=10) is not None
    rt.close_all()
