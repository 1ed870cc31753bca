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
