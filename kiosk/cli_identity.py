"""``kiosk references import`` and ``kiosk duplicates`` (issue 8).

Registered on the ``kiosk`` group by :func:`register` (one line in ``kiosk/cli.py``).
Exit codes as everywhere: 0 fine, 1 ran but found problems (files not imported,
duplicate pairs found), 2 usage error or an input that cannot be read at all.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _cli():
    from . import cli  # noqa: PLC0415 - the main CLI module (helpers live there)

    return cli


def _open(term_code: str, as_json: bool):
    """``(app, session, term)`` with the schema up to date; exits 2 for an unknown term."""
    from .db import get_db  # noqa: PLC0415
    from .services import terms  # noqa: PLC0415

    cli = _cli()
    app = cli._app()
    d = get_db(app)
    d.upgrade()
    s = d.sessionmaker()
    s.info["kiosk_store"] = app.extensions["kiosk_store"]
    term = terms.get_term(s, term_code)
    if term is None:
        s.close()
        cli._fail("term", f"没有批次 {term_code}（先导入名单）", as_json)
    return app, s, term


@click.group("references")
def references_group() -> None:
    """Enrolment (reference) photos for identity checks."""


@references_group.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--term", "term_code", required=True, help="Graduation term, e.g. 2027-07.")
@click.option("--key", type=click.Choice(["auto", "xh", "sfzh"]), default="auto", show_default=True,
              help="File names are 学号 (xh), 身份证号 (sfzh), or either (auto).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def references_import(path: Path, term_code: str, key: str, as_json: bool) -> None:
    """Import reference photos from PATH (a ZIP or a folder) for the students of a term."""
    from .services import references  # noqa: PLC0415

    cli = _cli()
    if not path.exists():
        cli._fail("not_found", f"找不到文件或文件夹：{path}", as_json)
    app, s, term = _open(term_code, as_json)
    try:
        with app.app_context():
            report = references.import_references(s, app.extensions["kiosk_store"], term, path, key=key,
                                                  actor=cli.cli_actor())
        if report.fatal:
            s.rollback()
        else:
            s.commit()
    finally:
        s.close()
    cli.finish_report(report, references.format_report(report), as_json, bool(report.problems))


@click.command("duplicates")
@click.option("--term", "term_code", required=True, help="Graduation term, e.g. 2027-07.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the pairs to this XLSX file.")
@click.option("--json", "as_json", is_flag=True, help='Print {"pairs": [...], "summary": {...}}.')
@click.option("--this-term-only", is_flag=True, help="Do not compare with other terms' approved photos.")
@click.option("--dry-run", is_flag=True, help="Only report: open no review items, store nothing.")
def duplicates_command(term_code: str, report_path: Path | None, as_json: bool, this_term_only: bool,
                       dry_run: bool) -> None:
    """Scan a term's approved photos for the same face or the same photo under two 学号.

    New pairs open a review item for both students (they are held out of batches until
    someone decides); pairs already reviewed are reported but not reopened.
    """
    from .services import duplicates  # noqa: PLC0415

    cli = _cli()
    if report_path is not None and report_path.suffix.lower() != ".xlsx":
        cli._fail("report", "报告文件须为 .xlsx", as_json)
    app, s, term = _open(term_code, as_json)
    try:
        with app.app_context():
            result = duplicates.scan_term(s, term, other_terms=not this_term_only)
            opened = [] if dry_run else duplicates.open_items(
                s, result.matches, cli.cli_actor(), source="scan", totals=result.totals)
        if dry_run:
            s.rollback()
        else:
            s.commit()
    finally:
        s.close()
    if report_path is not None:
        try:
            duplicates.write_report_xlsx(result, report_path)
        except OSError as e:
            cli._fail("report", f"报告无法写入：{e}", as_json)
    out = result.to_dict()
    out["summary"]["review_items_opened"] = len(opened)
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
    else:
        sm = out["summary"]
        click.echo(f"批次 {term.code}：已通过照片 {sm['photos']} 张，另与其他批次 {sm['other_terms_photos']} 张比对；"
                   f"无单一人脸 {sm['without_face']} 张（仅比对文件）；用时 {sm['elapsed_s']} 秒")
        if not result.matches:
            click.echo("未发现疑似重复")
        for m in result.matches:
            what = "重复照片" if m.kind == "file" else "同一人脸"
            extra = "字节相同" if m.exact else (f"指纹差 {m.bits} 位" if m.kind == "file" else "")
            dist = f"距离 {m.face_distance:.3f}" if m.face_distance is not None else ""
            click.echo(f"  {what}：{m.a.xh} {m.a.name}（{m.a.term_code}） ↔ {m.b.xh} {m.b.name}（{m.b.term_code}） "
                       f"{dist} {extra}".rstrip())
        if sm["pairs_not_listed"]:
            click.echo(f"  （另有约 {sm['pairs_not_listed']} 对未列出：每张照片只列最接近的 {duplicates.SCAN_NEIGHBOURS} 张）")
        click.echo(f"新开复核事项 {len(opened)} 条" + ("（试运行，未写入）" if dry_run else ""))
        if report_path is not None:
            click.echo(f"报告：{report_path}")
    sys.exit(1 if result.matches else 0)


def register(main: click.Group) -> None:
    main.add_command(references_group, "references")
    main.add_command(duplicates_command, "duplicates")
