"""Fixtures for the kiosk (app, database, web) tests.

Every test that touches the database runs twice, on SQLite and on PostgreSQL (the
production path): such a test asks for ``db_backend`` — directly, through ``app`` /
``db`` / ``session`` / ``client``, or with ``pytestmark = pytest.mark.usefixtures(
"db_backend")`` when it builds its app with :func:`make_app` or runs the CLI — and is
parametrised ``[sqlite]`` / ``[pg]``.  The backend reaches the code under test through
``KIOSK_DATABASE_URL`` (set for ``pg``, unset for ``sqlite`` so the instance's SQLite
file is used), so apps built in the test, the CLI and subprocesses all see it.

PostgreSQL side: one private server per run (tests/pg.py); the migrations run once into
a template database and each test gets ``CREATE DATABASE … TEMPLATE`` (a copy of a
migrated, empty schema in ~0.1 s instead of ~1.5 s of migrations), dropped again at
teardown.  ``KIOSK_TEST_DB=sqlite`` or ``=pg`` runs one side only (local use);
``@pytest.mark.pg_only`` marks the few heavy tests that run on PostgreSQL only.
"""
from __future__ import annotations

import os
import re
import uuid

import pytest

from kiosk import create_app
from kiosk.db import get_db

from tests.conftest import require_or_skip
from tests.pg import PgServer, PgUnavailable
from tests.redis_server import RedisServer, RedisUnavailable

DB_BACKENDS = ("sqlite", "pg")


def selected_backends() -> tuple[str, ...]:
    want = (os.environ.get("KIOSK_TEST_DB") or "").strip().lower()
    if not want or want in ("all", "both"):
        return DB_BACKENDS
    chosen = tuple(b for b in DB_BACKENDS if b in want.replace(",", " ").split())
    if not chosen:
        raise pytest.UsageError(f"KIOSK_TEST_DB={want!r}: use sqlite, pg or both")
    return chosen


def pytest_generate_tests(metafunc):
    if "db_backend" not in metafunc.fixturenames:
        return
    backends = selected_backends()
    if metafunc.definition.get_closest_marker("pg_only") is not None:
        backends = tuple(b for b in backends if b == "pg")
    metafunc.parametrize("db_backend", backends, indirect=True, ids=list(backends))


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for this test run (or skip with the reason)."""
    if os.environ.get("KIOSK_TEST_PG_URL"):
        yield None
        return
    srv = PgServer()
    try:
        srv.start()
    except PgUnavailable as e:
        require_or_skip(f"PostgreSQL not available: {e}")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def pg_admin(pg_server):
    """Creates and drops the tests' databases on the run's server."""
    from tests.pg import PgAdmin

    admin = PgAdmin(os.environ["KIOSK_TEST_PG_URL"] if pg_server is None else pg_server.url)
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def pg_template(pg_admin):
    """Name of a database with every migration applied, to copy for each test."""
    from kiosk.db import Database

    name = f"kiosk_tmpl_{uuid.uuid4().hex[:8]}"
    url = pg_admin.create(name)
    db = Database(url)
    try:
        db.upgrade()
    finally:
        db.engine.dispose()
    pg_admin.mark_template(name)
    yield name
    pg_admin.drop(name)


@pytest.fixture
def pg_url(pg_admin):
    """An empty database (for the migration tests themselves); dropped afterwards."""
    name = "kiosk_" + uuid.uuid4().hex[:10]
    yield pg_admin.create(name)
    _dispose_apps()
    pg_admin.drop(name)


_APPS: list = []
_ACTIVE: list[str] = []   # the backend of the running test, set by ``db_backend``


def _dispose_apps() -> None:
    """Close the pools of the apps built during the test (before its database is dropped)."""
    while _APPS:
        app = _APPS.pop()
        try:
            get_db(app).engine.dispose()
        except Exception:  # noqa: BLE001 - teardown must go on
            pass


@pytest.fixture
def db_backend(request, monkeypatch):
    """``"sqlite"`` or ``"pg"`` (parametrised); points ``KIOSK_DATABASE_URL`` at it."""
    name = getattr(request, "param", "sqlite")
    _ACTIVE[:] = [name]
    if name == "sqlite":
        monkeypatch.delenv("KIOSK_DATABASE_URL", raising=False)
        yield name
        _ACTIVE.clear()
        _dispose_apps()
        return
    admin = request.getfixturevalue("pg_admin")
    template = request.getfixturevalue("pg_template")
    db_name = "kiosk_t_" + uuid.uuid4().hex[:10]
    monkeypatch.setenv("KIOSK_DATABASE_URL", admin.create(db_name, template=template))
    yield name
    _ACTIVE.clear()
    _dispose_apps()
    admin.drop(db_name)


@pytest.fixture(scope="session")
def redis_server():
    """A Redis server for this test run, on a free port (or skip with the reason)."""
    if os.environ.get("KIOSK_TEST_REDIS_URL"):
        yield None
        return
    srv = RedisServer()
    try:
        srv.start()
    except RedisUnavailable as e:
        require_or_skip(f"Redis not available: {e}")
    yield srv
    srv.stop()


@pytest.fixture
def redis_url(redis_server):
    """The test's broker URL (emptied first: no task of an earlier test is left)."""
    if redis_server is None:
        return os.environ["KIOSK_TEST_REDIS_URL"]
    if not redis_server.ping():                 # a test stopped it: start it again
        redis_server.start()
    redis_server.flush()
    return redis_server.url


def make_app(tmp_path, **extra):
    """An app on the test's database (the test must use ``db_backend``, see above)."""
    if not _ACTIVE and "DATABASE_URL" not in extra:
        raise RuntimeError("make_app() in a test without the db_backend fixture: it would only ever run on "
                           "SQLite; add db_backend to the test (or its fixture)")
    cfg = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
    }
    cfg.update(extra)
    app = create_app(cfg)
    _APPS.append(app)
    get_db(app).upgrade()
    return app


@pytest.fixture
def app(db_backend, tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def db(app):
    return get_db(app)


@pytest.fixture
def session(db):
    s = db.sessionmaker()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def client(app):
    return app.test_client()


def login(client, username, password):
    return client.post("/login", data={"username": username, "password": password}, follow_redirects=False)


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)
