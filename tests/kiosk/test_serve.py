"""The README's run command: `kiosk demo` starts a server that answers on localhost."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from tests.ports import free_port as _free_port


def test_demo_serves_a_page_on_localhost(tmp_path):
    port = _free_port()
    env = dict(os.environ, KIOSK_INSTANCE=str(tmp_path / "inst"))
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "demo", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        body = None
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.3)
        assert body is not None, proc.stdout.read() if proc.poll() is not None else "no answer"
        assert "毕业生电子图像采集服务" in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "演示数据：批次 2027-07，新增学生 60 人" in out
    assert "admin" in out


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(x) for x in f.read().split()}


def _get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status


def test_serve_with_several_web_processes_on_one_port(tmp_path):
    """`kiosk serve --workers 2`: two waitress processes answer on one port (SO_REUSEPORT);
    one that dies is started again; stopping the parent stops them all."""
    import signal  # noqa: PLC0415
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    port = _free_port()
    env = dict(os.environ, KIOSK_INSTANCE=str(tmp_path / "inst"))
    subprocess.run([sys.executable, "-m", "kiosk", "init-db"], env=env, check=True, capture_output=True, timeout=120)
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if _get(url) == 200 and len(_children(proc.pid)) == 2:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.time() < deadline, "server did not come up"
            time.sleep(0.3)
        with ThreadPoolExecutor(8) as ex:
            assert set(ex.map(_get, [url] * 40)) == {200}
        first = _children(proc.pid)
        os.kill(min(first), signal.SIGKILL)                 # one web process dies
        deadline = time.time() + 60
        while not (len(_children(proc.pid)) == 2 and _children(proc.pid) != first):
            assert time.time() < deadline, "the dead process was not replaced"
            time.sleep(0.3)
        assert max(first) in _children(proc.pid)           # the other one kept serving
        assert _get(url) == 200
    finally:
        kids = _children(proc.pid) if proc.poll() is None else set()
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "2 个进程" in out
    for k in kids:
        assert not os.path.exists(f"/proc/{k}") or open(f"/proc/{k}/stat").read().split()[2] == "Z"
