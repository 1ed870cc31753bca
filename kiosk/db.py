"""Database engine, sessions and migrations.

One ``Database`` per app (``app.extensions["kiosk_db"]``).  A request gets one
``Session`` (:func:`session`), the view commits once, teardown rolls back anything
left and closes it.  Service functions take the session first and only ``flush()``.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from flask import current_app, g
from sqlalchemy import create_engine, event, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Database:
    def __init__(self, url: str, *, echo: bool = False):
        self.url = url
        kwargs: dict = {"echo": echo, "future": True}
        if url.startswith("sqlite"):
            self._ensure_sqlite_dir(url)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @staticmethod
    def _ensure_sqlite_dir(url: str) -> None:
        path = url.split("///", 1)[-1] if "///" in url else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session for scripts and background jobs: commit on success, roll back on error."""
        s = self.sessionmaker()
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            s.close()

    # -------------------------------------------------------------- migrations
    def alembic_config(self):
        from alembic.config import Config  # noqa: PLC0415

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        from alembic import command  # noqa: PLC0415

        command.upgrade(self.alembic_config(), revision)

    def current_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory  # noqa: PLC0415

        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def get_db(app=None) -> Database:
    return (app or current_app).extensions["kiosk_db"]


def session() -> Session:
    """The request's session (created on first use)."""
    if "db_session" not in g:
        g.db_session = get_db().sessionmaker()
    return g.db_session


def close_session(exc: BaseException | None = None) -> None:
    s = g.pop("db_session", None)
    if s is not None:
        if exc is not None or s.in_transaction():
            s.rollback()
        s.close()


# ------------------------------------------------------------------ row locks
def lock_rows(session: Session, model, ids, *, shared: bool = False) -> None:
    """Hold ``model`` rows ``ids`` until the session's transaction ends, so two web
    processes or workers deciding about the same rows run one after the other.

    PostgreSQL: ``SELECT … FOR NO KEY UPDATE`` (``FOR SHARE`` with ``shared``) in id
    order (no deadlock between two lockers of overlapping sets); inserting rows that
    only *reference* the locked ones is not blocked.  SQLite has no row locks: the
    transaction takes the database's write lock now (``BEGIN IMMEDIATE``), which
    serialises every writer.  Either way the caller must re-read what it decides on
    after this call (objects loaded before may be stale: refresh them).
    """
    ids = sorted({int(i) for i in ids if i is not None})
    if not ids:
        return
    if session.get_bind().dialect.name == "sqlite":
        begin_immediate(session)
        return
    stmt = select(model.id).where(model.id.in_(ids)).order_by(model.id)
    stmt = stmt.with_for_update(read=True) if shared else stmt.with_for_update(key_share=True)
    session.execute(stmt).all()


def begin_immediate(session: Session) -> None:
    """SQLite: make the session's transaction a writer now.  pysqlite opens a
    transaction only before the first INSERT/UPDATE/DELETE; until then each read sees
    the latest commit.  ``BEGIN IMMEDIATE`` takes the write lock at once (waiting up to
    the busy timeout), so what is read afterwards cannot change before the commit.  A
    transaction that has written already holds that lock.  No-op on other databases."""
    _sqlite_begin(session, "BEGIN IMMEDIATE")


def begin_snapshot(session: Session) -> None:
    """SQLite: make the session's following reads one snapshot.  pysqlite opens no
    transaction for reads, so each SELECT sees the latest commit and a page made of
    several counts can mix two states (the node's status counted entries the sync thread
    moved between two of its reads twice).  A deferred ``BEGIN`` holds one WAL snapshot
    from the next read to the end of the transaction, without taking the write lock.
    No-op when a transaction is already open, and on other databases."""
    _sqlite_begin(session, "BEGIN")


def _sqlite_begin(session: Session, statement: str) -> None:
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    if not raw.in_transaction:
        conn.exec_driver_sql(statement)
