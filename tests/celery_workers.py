"""``kiosk worker`` subprocesses for tests and benches (beside :mod:`tests.redis_server`).

Each worker is ``sys.executable -m kiosk worker`` in its own process group (so a test can
SIGKILL it with its pool processes), configured through ``KIOSK_*`` environment variables
from a config dict (:func:`celery_config` makes one), with this checkout first on
``PYTHONPATH``; its log (Celery's INFO lines: ``Task … received/succeeded``, ``… ready.``)
goes to ``<tmp>/<name>.log``.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def celery_config(tmp: Path, db_url: str, broker: str, **extra) -> dict:
    """Settings for a submitter app and its workers: shared database, store and broker;
    small chunks and short fault timings (a test's archive is small)."""
    cfg = {"DATABASE_URL": db_url, "PHOTO_STORE": str(tmp / "shared-store"), "JOBS_BACKEND": "celery",
           "CELERY_BROKER_URL": broker, "CELERY_CHUNK_SIZE": 2, "CELERY_VISIBILITY_TIMEOUT": 30,
           "CELERY_RETRY_BACKOFF_MAX": 4, "CELERY_RESTORE_INTERVAL": 2, "SECRET_KEY": "test-secret"}
    cfg.update(extra)
    return cfg


class Workers:
    """``kiosk worker`` subprocesses sharing the test's database, store and broker."""

    def __init__(self, tmp: Path, config: dict):
        self.tmp, self.config = tmp, config
        self.procs: dict[str, subprocess.Popen] = {}

    def env(self) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
        env["KIOSK_INSTANCE"] = str(self.tmp / "instance")
        for k, v in self.config.items():
            env[f"KIOSK_{k}"] = str(v)
        return env

    def log(self, name: str) -> str:
        p = self.tmp / f"{name}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def start(self, *names: str, timeout: float = 120, concurrency: int = 1) -> None:
        """Start workers ``names`` and wait until each says it is ready."""
        for name in names:
            with open(self.tmp / f"{name}.log", "ab") as out:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "kiosk", "worker", "--concurrency", str(concurrency), "-n", f"{name}@%h"],
                    env=self.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + timeout
        for name in names:
            while " ready." not in self.log(name):
                assert self.procs[name].poll() is None, f"worker {name} exited:\n{self.log(name)[-3000:]}"
                assert time.time() < deadline, f"worker {name} not ready:\n{self.log(name)[-3000:]}"
                time.sleep(0.2)

    def kill(self, name: str) -> None:
        """SIGKILL the worker and its pool processes (its own process group)."""
        p = self.procs[name]
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)

    def tasks(self, name: str, state: str) -> int:
        return len(re.findall(rf"Task kiosk\.intake\.check\[[^\]]+\] {state}", self.log(name)))

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
