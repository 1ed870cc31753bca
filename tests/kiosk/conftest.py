"""Fixtures for the kiosk (app, database, web) tests."""
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


@pytest.fixture
def pg_url(pg_server):
    if pg_server is None:
        return os.environ["KIOSK_TEST_PG_URL"]
    return pg_server.create_database("kiosk_" + uuid.uuid4().hex[:10])


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
    cfg = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
    }
    cfg.update(extra)
    app = create_app(cfg)
    get_db(app).upgrade()
    return app


@pytest.fixture
def app(tmp_path):
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
