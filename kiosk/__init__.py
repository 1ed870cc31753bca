"""The kiosk service: Flask app factory.

``create_app(test_config=None)`` builds an app from defaults → instance TOML →
``KIOSK_*`` environment → ``test_config``.  Nothing at import time opens a camera, a
database connection or loads face models.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from flask import Flask

__all__ = ["create_app"]


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    instance = os.environ.get("KIOSK_INSTANCE") or (test_config or {}).get("INSTANCE_PATH")
    app = Flask(__name__, instance_path=str(Path(instance).resolve()) if instance else None,
                instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from .config import load_config  # noqa: PLC0415

    app.config.update(load_config(app.instance_path, test_config))
    app.permanent_session_lifetime = dt.timedelta(hours=float(app.config["SESSION_HOURS"]))

    from .db import Database, close_session  # noqa: PLC0415

    app.extensions["kiosk_db"] = Database(app.config["DATABASE_URL"])
    app.teardown_appcontext(close_session)

    from .store import PhotoStore  # noqa: PLC0415

    app.extensions["kiosk_store"] = PhotoStore(app.config["PHOTO_STORE"])

    from .services.identity import register_hooks  # noqa: PLC0415

    register_hooks()  # duplicate search on approval (idempotent: registered once per process)

    from .web import init_web  # noqa: PLC0415

    init_web(app)
    return app
