"""Configuration: defaults → instance TOML → ``KIOSK_*`` environment → test dict.

Every key is upper-case.  From the environment, ``KIOSK_DATABASE_URL`` sets
``DATABASE_URL``; values are parsed as TOML scalars when they look like one
(``KIOSK_SESSION_HOURS=8`` is an int, ``KIOSK_DEBUG=true`` a bool), else kept as text.
"""
from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    # Storage
    "DATABASE_URL": None,            # None → sqlite:///<instance>/kiosk.sqlite3
    "PHOTO_STORE": None,             # None → <instance>/photos
    "EXPORT_DIR": None,              # None → <instance>/exports
    # Security / sessions
    "SECRET_KEY": None,              # None → generated once into <instance>/secret_key
    "SESSION_HOURS": 10,             # absolute lifetime of a login
    "SESSION_IDLE_MINUTES": 120,     # idle timeout
    "WTF_CSRF_TIME_LIMIT": None,     # CSRF token valid for the session's life
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "MAX_CONTENT_LENGTH": 512 * 1024 * 1024,  # intake archives
    # QC / capture
    "QC_PROFILE": "chsi_xueli_v1",
    "STATION_HOTFOLDER_SETTLE": 0.5,  # s a dropped file must stay unchanged before it is taken
    # Self-check rate limit: attempts per window per client
    "SELFCHECK_MAX_ATTEMPTS": 5,
    "SELFCHECK_WINDOW_MINUTES": 15,
    "SELFCHECK_SESSION_MINUTES": 15,  # how long a verified self-check stays open
    # Background jobs: "inprocess" (default) or "celery"
    "JOBS_BACKEND": "inprocess",
    "JOBS_WORKERS": None,            # None → number of CPUs (in-process pool; `kiosk worker` concurrency)
    # Celery backend (JOBS_BACKEND = "celery"; README "Run on several machines")
    "CELERY_BROKER_URL": None,       # redis://host:6379/0 — required for the celery backend
    "CELERY_QUEUE": "kiosk",         # queue the web processes send to and the workers consume
    "CELERY_CHUNK_SIZE": 8,          # intake files per check task
    "CELERY_VISIBILITY_TIMEOUT": 3600,  # s before an unacknowledged task (its worker died) is redelivered
    "CELERY_RESTORE_INTERVAL": 60,   # s between a worker's looks for such tasks (kombu checks every 100 s)
    "CELERY_MAX_RETRIES": 8,         # retries of a task on transient DB/Redis/store errors
    "CELERY_RETRY_BACKOFF_MAX": 60,  # s, cap of the exponential back-off between retries
    # UI
    "DEFAULT_LANG": "zh",
    "PUBLIC_BASE_URL": None,         # for QR codes on printed lists; None → request host
    "SCHOOL_NAME": "开放大学",
}


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def load_config(instance_path: str | os.PathLike, test_config: dict[str, Any] | None = None,
                environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Merge the configuration layers and fill derived defaults."""
    env = os.environ if environ is None else environ
    cfg: dict[str, Any] = dict(DEFAULTS)
    inst = Path(instance_path)
    toml_path = Path(env.get("KIOSK_CONFIG") or inst / "kiosk.toml")
    if toml_path.is_file():
        with open(toml_path, "rb") as f:
            data = tomllib.load(f)
        for k, v in data.items():
            cfg[k.upper()] = v
    for k, v in env.items():
        if k.startswith("KIOSK_") and k not in ("KIOSK_CONFIG", "KIOSK_PYTHON", "KIOSK_CORPUS"):
            cfg[k[len("KIOSK_"):]] = _parse_env_value(v)
    if test_config:
        cfg.update({k.upper(): v for k, v in test_config.items()})

    if not cfg["DATABASE_URL"]:
        cfg["DATABASE_URL"] = f"sqlite:///{(inst / 'kiosk.sqlite3').as_posix()}"
    if not cfg["PHOTO_STORE"]:
        cfg["PHOTO_STORE"] = str(inst / "photos")
    if not cfg["EXPORT_DIR"]:
        cfg["EXPORT_DIR"] = str(inst / "exports")
    if not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = _instance_secret(inst)
    return cfg


def _instance_secret(inst: Path) -> str:
    """A per-installation secret kept in ``instance/secret_key`` (created on first use)."""
    inst.mkdir(parents=True, exist_ok=True)
    p = inst / "secret_key"
    if p.is_file():
        return p.read_text().strip()
    key = secrets.token_hex(32)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race
        return p.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
