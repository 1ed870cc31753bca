"""The ``kiosk`` command.

Commands that need the database run inside an app context; commands that only look at
files (``qc``, ``normalize``) never create an app.  Exit codes: 0 success, 1 the command
ran but found problems (bad rows, failed photos), 2 usage errors or an unreadable input.
"""
from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import click

from capture.cli import normalize_command
from qc.cli import qc_command


def _app():
    from . import create_app  # noqa: PLC0415

    return create_app()


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # pragma: no cover - no passwd entry in some containers
        return "cli"


def finish_report(report, lines, as_json: bool, problems: bool) -> None:
    """Print an import report (JSON object, or its Chinese ``lines``) and exit: 2 when
    the input could not be read at all (``report.fatal``), 1 with ``problems``, else 0."""
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, default=str))
    else:
        for line in lines:
            click.echo(line)
    sys.exit(2 if report.fatal else 1 if problems else 0)


def _fail(code: str, message: str, as_json: bool = False, exit_code: int = 2):
    if as_json:
        click.echo(json.dumps({"ok": False, "error": {"code": code, "message": message}}, ensure_ascii=False))
    else:
        click.echo(f"错误 [{code}]：{message}", err=True)
    sys.exit(exit_code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """毕业照采集服务 / graduation-photo kiosk service."""


main.add_command(qc_command, "qc")
main.add_command(normalize_command, "normalize")


@main.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    from .db import get_db  # noqa: PLC0415

    app = _app()
    d = get_db(app)
    before = d.current_revision()
    d.upgrade()
    after = d.current_revision()
    if before == after:
        click.echo(f"数据库已是最新（{after}）：{_safe_url(d.url)}")
    else:
        click.echo(f"数据库已升级 {before or '空'} → {after}：{_safe_url(d.url)}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    return make_url(url).render_as_string(hide_password=True)


@main.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--serve/--no-serve", default=True, help="Start the server after loading.")
def demo(host: str, port: int, serve: bool) -> None:
    """Initialise the database, load a demo term, roster and accounts, and serve."""
    from .db import get_db  # noqa: PLC0415
    from .demo import load_demo  # noqa: PLC0415

    app = _app()
    d = get_db(app)
    d.upgrade()
    with d.session() as s:
        made = load_demo(s)
    click.echo(f"演示数据：批次 {made['term']}，新增学生 {made['students_created']} 人")
    click.echo("演示账号（仅供试用）：")
    for user, pw in made["accounts"].items():
        click.echo(f"  {user:12s} {pw}")
    if serve:
        _serve(app, host, port)


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Web processes (SO_REUSEPORT on one port; see kiosk.cli_worker).")
def serve_cmd(host: str, port: int, threads: int, workers: int) -> None:
    """Serve the web app with waitress (production WSGI server)."""
    from .db import get_db  # noqa: PLC0415

    app = _app()
    d = get_db(app)
    if d.current_revision() != d.head_revision():
        _fail("schema", "数据库结构不是最新，请先运行 `kiosk init-db`")
    if workers > 1:
        from .cli_worker import serve_processes  # noqa: PLC0415

        d.engine.dispose()
        return serve_processes(host, port, threads, workers)
    _serve(app, host, port, threads)


def _serve(app, host: str, port: int, threads: int = 8) -> None:
    from waitress import serve  # noqa: PLC0415

    click.echo(f"服务已启动：http://{host}:{port}/  （Ctrl+C 停止）")
    serve(app, host=host, port=port, threads=threads, ident="kiosk", max_request_body_size=app.config["MAX_CONTENT_LENGTH"])


# ------------------------------------------------------------------------- roster
@main.group("roster")
def roster_group() -> None:
    """Roster of expected graduates."""


@roster_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--term", "term_code", required=True, help="Graduation term, e.g. 2027-07.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def roster_import(file: Path, term_code: str, dry_run: bool, as_json: bool) -> None:
    """Import FILE (.xlsx or .csv) into the roster of a term."""
    from .db import get_db  # noqa: PLC0415
    from .services import roster, terms  # noqa: PLC0415

    if not file.is_file():
        _fail("not_found", f"文件不存在：{file}", as_json)
    app = _app()
    d = get_db(app)
    d.upgrade()
    s = d.sessionmaker()
    try:
        try:
            term = terms.ensure_term(s, term_code)
        except terms.TermError as e:
            _fail(e.code, e.message, as_json)
        report = roster.import_roster(s, term, file.read_bytes(), file.name, actor=cli_actor(), dry_run=dry_run)
        if dry_run or report.fatal:
            s.rollback()
        else:
            s.commit()
    finally:
        s.close()
    finish_report(report, roster.format_report(report), as_json, bool(report.errors))


# ------------------------------------------------------------------------- users
@main.group("user")
def user_group() -> None:
    """Accounts (admin, operator, imaging_unit)."""


@user_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "operator", "imaging_unit"]), required=True)
@click.option("--unit", "unit", help="分部/学习中心 (code or name) for operators.")
@click.option("--imaging-unit", "imaging_unit", help="Imaging unit name (created if missing).")
@click.option("--name", "display_name", default="")
@click.option("--password", help="Prompted when omitted.")
def user_create(username, role, unit, imaging_unit, display_name, password) -> None:
    """Create an account."""
    from .db import get_db  # noqa: PLC0415
    from .services import orgs, users  # noqa: PLC0415

    if not password:
        password = click.prompt("密码", hide_input=True, confirmation_prompt=True)
    app = _app()
    d = get_db(app)
    d.upgrade()
    with d.session() as s:
        org_id = iu_id = None
        if unit:
            u = orgs.find_unit(s, unit)
            if u is None:
                _fail("unit", f"找不到分部/学习中心：{unit}")
            org_id = u.id
        if imaging_unit:
            iu_id = orgs.ensure_imaging_unit(s, imaging_unit).id
        try:
            users.create_user(s, username, password, role, display_name=display_name, org_unit_id=org_id,
                              imaging_unit_id=iu_id, actor=cli_actor())
        except users.UserError as e:
            _fail(e.code, e.message)
    click.echo(f"已创建用户 {username}（{role}）")


# Batches, confirmation lists and coverage exports live in their own module.
from .cli_upload import register as _register_upload  # noqa: E402

_register_upload(main)

# Reference photos and the duplicate scan live in their own module.
from .cli_identity import register as _register_identity  # noqa: E402

_register_identity(main)

# Imaging-unit bulk intake.
from .cli_intake import register as _register_intake  # noqa: E402

_register_intake(main)

# Celery worker and several web processes (JOBS_BACKEND=celery; README "Run on several machines").
from .cli_worker import register as _register_worker  # noqa: E402

_register_worker(main)

# Station nodes (offline capture) and their tokens.
from .cli_node import register as _register_node  # noqa: E402

_register_node(main)
