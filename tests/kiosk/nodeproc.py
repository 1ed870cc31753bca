"""Real kiosk servers as subprocesses for the station-node tests: a central server
(``kiosk serve``) and a station node (``kiosk station-node``), each with its own instance
folder (SQLite database, photo store) on a free port, plus a small cookie/CSRF-aware
HTTP client that drives the station API the way the page does."""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def _env(instance: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                       if p])
    env["KIOSK_INSTANCE"] = str(instance)
    env.update(extra)
    return env


def run_cli(instance: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], env=_env(instance, **env), capture_output=True,
                          text=True, timeout=120)


class Proc:
    """A kiosk server subprocess; ``url`` once it answers ``/healthz``."""

    def __init__(self, instance: Path, args: list[str], port: int, log: Path, **env: str):
        self.instance, self.args, self.port, self.log_path, self.env = instance, args, port, log, env
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> "Proc":
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "kiosk", *self.args, "--port", str(self.port)],
                                     env=_env(self.instance, **self.env), stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args[0]} exited {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.args[0]} did not answer:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.proc = None


class Browserless:
    """A logged-in station operator over plain HTTP (cookies + the page's CSRF token)."""

    def __init__(self, url: str):
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""

    def _req(self, method: str, path: str, data: bytes | None = None, ctype: str | None = None):
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        if method != "GET":
            req.add_header("X-CSRFToken", self.csrf)
        try:
            with self.opener.open(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def page(self, path: str) -> str:
        status, body = self._req("GET", path)
        html = body.decode()
        m = re.search(r'name="csrf-token" content="([^"]+)"', html)
        if m:
            self.csrf = m.group(1)
        return html

    def form(self, path: str, fields: dict) -> int:
        fields = {"csrf_token": self.csrf, **fields}
        status, _ = self._req("POST", path, urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded")
        return status

    def get(self, path: str) -> dict:
        status, body = self._req("GET", path)
        return {"status": status, **json.loads(body)}

    def post(self, path: str, obj=None, *, raw: bytes | None = None, ctype="application/json") -> dict:
        data = raw if raw is not None else json.dumps(obj or {}).encode()
        status, body = self._req("POST", path, data, ctype)
        return {"status": status, **json.loads(body)}

    def login(self, username: str, password: str) -> None:
        self.page("/login")
        self.form("/login", {"username": username, "password": password})
        self.page("/station/")

    def start(self, station: str = "1号机位", term: str = "2027-07") -> None:
        assert self.form("/station/start", {"term": term, "place": "图书馆", "station_name": station,
                                            "camera_kind": "browser"}) in (200, 302)
        self.page("/station/session")
