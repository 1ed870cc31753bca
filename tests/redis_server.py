"""A throw-away Redis server for the test run (beside :mod:`tests.pg`).

Started from the ``redis-server`` binary (Debian package ``redis-server``) on a free
port chosen at run time, with its data in a temporary folder and append-only
persistence on (``appendfsync always``), so a test can stop and restart it on the same
port and find the queued tasks again — as a production Redis configured per the
README would.  ``KIOSK_TEST_REDIS_URL`` points the tests at an existing server
instead (then :meth:`RedisServer.stop`/``restart`` are not available).
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from .ports import free_port as _free_port


class RedisUnavailable(Exception):
    pass


class RedisServer:
    def __init__(self):
        self.port = 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                                  else None)
        if not binary:
            raise RedisUnavailable("redis-server is not installed (Debian package redis-server)")
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix="kiosk-redis-"))
            self.port = _free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--protected-mode", "yes",
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while not self.ping():
            if self.proc.poll() is not None or time.time() > deadline:
                log = (self.dir / "redis.log").read_text(errors="replace")[-300:] if (self.dir / "redis.log").exists() else ""
                self.kill()
                raise RedisUnavailable(f"redis-server did not start: {log}")
            time.sleep(0.05)
        return self.url

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """Stop the server at once (SIGKILL: no last save; the append-only file has every write)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def flush(self) -> None:
        """Empty every database (between tests)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"FLUSHALL\r\n")
            s.recv(16)

    def stop(self) -> None:
        self.kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
