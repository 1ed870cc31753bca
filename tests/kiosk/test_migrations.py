"""Schema: migrations create what the models describe, run twice as a no-op, on SQLite
and on a real PostgreSQL server; the database enforces the audit log and one approved
photo per student."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError, IntegrityError

from kiosk.cli import main as cli
from kiosk.db import Database
from kiosk.models import AuditEntry, Base, Photo, Student, Term


def _check_schema(db: Database) -> None:
    assert db.current_revision() == db.head_revision()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    assert {"students", "photos", "qc_reports", "audit_log", "batches", "users"} <= set(db.table_names())


def _check_constraints(db: Database) -> None:
    with db.session() as s:
        t = Term(code="2027-07", name="t")
        s.add(t)
        s.flush()
        st = Student(term_id=t.id, xh="001", name="张三", id_number="11010519491231002X")
        s.add(st)
        s.flush()
        s.add_all([Photo(student_id=st.id, version=1, source="capture", status="approved", original_sha256="a" * 64),
                   Photo(student_id=st.id, version=2, source="capture", status="superseded", original_sha256="b" * 64)])
        s.add(AuditEntry(actor="test", action="x"))
    # A second approved photo for the same student is refused by the database.
    with pytest.raises(IntegrityError):
        with db.session() as s:
            s.add(Photo(student_id=st.id, version=3, source="capture", status="approved", original_sha256="c" * 64))
    # The audit log is append-only.
    for stmt in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DatabaseError, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text(stmt))


def test_init_db_on_empty_sqlite_then_again_is_noop(tmp_path, monkeypatch):
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "inst"))
    r1 = CliRunner().invoke(cli, ["init-db"])
    head = Database(f"sqlite:///{tmp_path / 'scratch.sqlite3'}").head_revision()
    assert r1.exit_code == 0 and f"已升级 空 → {head}" in r1.output, r1.output
    r2 = CliRunner().invoke(cli, ["init-db"])
    assert r2.exit_code == 0 and "已是最新" in r2.output
    db = Database(f"sqlite:///{tmp_path / 'inst' / 'kiosk.sqlite3'}")
    _check_schema(db)
    _check_constraints(db)


@pytest.mark.postgres
def test_migrations_on_postgresql(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "inst"))
    monkeypatch.setenv("KIOSK_DATABASE_URL", pg_url)
    r1 = CliRunner().invoke(cli, ["init-db"])
    assert r1.exit_code == 0 and "已升级" in r1.output and "postgresql" in r1.output, r1.output
    r2 = CliRunner().invoke(cli, ["init-db"])
    assert r2.exit_code == 0 and "已是最新" in r2.output
    db = Database(pg_url)
    _check_schema(db)
    _check_constraints(db)
    db.engine.dispose()


@pytest.mark.postgres
def test_roster_import_on_postgresql(pg_url, tmp_path, monkeypatch):
    from .rosterdata import HEADER, csv_bytes, rows

    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "inst"))
    monkeypatch.setenv("KIOSK_DATABASE_URL", pg_url)
    f = tmp_path / "r.csv"
    f.write_bytes(csv_bytes(HEADER, rows(20), "gbk"))
    r = CliRunner().invoke(cli, ["roster", "import", str(f), "--term", "2027-07"])
    assert r.exit_code == 0 and "新增 20" in r.output, r.output
    r = CliRunner().invoke(cli, ["roster", "import", str(f), "--term", "2027-07"])
    assert "未变 20" in r.output
