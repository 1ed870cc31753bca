"""A throw-away PostgreSQL server for the test run.

Started only when PostgreSQL's server binaries are installed (``initdb``/``pg_ctl`` on
PATH or under ``/usr/lib/postgresql/*/bin``); as root the cluster runs as the
``postgres`` system user.  ``KIOSK_TEST_PG_URL`` points the tests at an existing
server instead.  When neither is possible, the tests that need it are skipped with the
reason.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from .ports import free_port as _free_port


class PgUnavailable(Exception):
    pass


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return cands[-1] if cands else None


class PgServer:
    def __init__(self):
        self.datadir: Path | None = None
        self.port = 0
        self.url = ""
        self._as: list[str] = []

    def start(self) -> str:
        initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise PgUnavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise PgUnavailable("the psycopg driver is not installed") from None
        root = Path(tempfile.mkdtemp(prefix="kiosk-pg-"))
        self.datadir = root / "data"
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root and there is no 'postgres' user to run the server") from None
            if not runuser:
                raise PgUnavailable("running as root without runuser")
            self._as = [runuser, "-u", "postgres", "--"]
            shutil.chown(root, "postgres")
            os.chmod(root, 0o700)
        self.port = _free_port()
        run = lambda cmd: subprocess.run(self._as + cmd, check=True, capture_output=True, text=True,  # noqa: E731
                                         timeout=120)
        try:
            run([initdb, "-D", str(self.datadir), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
                 "--locale=C"])
            run([pg_ctl, "-D", str(self.datadir), "-l", str(self.datadir / "server.log"), "-w", "-t", "60",
                 "-o", f"-p {self.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
        except subprocess.CalledProcessError as e:
            raise PgUnavailable(f"could not start PostgreSQL: {e.stderr.strip()[:300]}") from None
        url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        deadline = time.time() + 20
        import psycopg

        while True:
            try:
                with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                                     autocommit=True) as c:
                    c.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise PgUnavailable("PostgreSQL did not accept connections") from None
                time.sleep(0.2)
        self.url = url
        return url

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')
            c.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.datadir is None:
            return
        pg_ctl = _bin("pg_ctl")
        subprocess.run(self._as + [pg_ctl, "-D", str(self.datadir), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(self.datadir.parent, ignore_errors=True)
        self.datadir = None


class PgAdmin:
    """One autocommit connection to a server's ``postgres`` database that creates the
    tests' databases (optionally as copies of a template) and drops them again."""

    def __init__(self, url: str):
        import psycopg
        from sqlalchemy.engine import make_url

        self._url = make_url(url)
        u = self._url
        self._conn = psycopg.connect(host=u.host or "127.0.0.1", port=u.port or 5432, user=u.username,
                                     password=u.password, dbname=u.database or "postgres", autocommit=True)

    def url_for(self, name: str) -> str:
        return self._url.set(database=name).render_as_string(hide_password=False)

    def create(self, name: str, *, template: str | None = None) -> str:
        self._conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url_for(name)

    def mark_template(self, name: str) -> None:
        """Forbid connections to ``name`` so no stray session can block the copies."""
        self._conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')

    def drop(self, name: str) -> None:
        # FORCE: a background thread of the test may still hold a connection.
        self._conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def databases(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")]

    def close(self) -> None:
        self._conn.close()
