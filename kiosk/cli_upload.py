"""``kiosk batch …``, ``kiosk confirm-list`` and ``kiosk coverage …``: what goes out.

Registered on the main ``kiosk`` group by :func:`register`.  Errors print
``错误 [code]：message`` (or the JSON error shape with ``--json``) and exit 2 for bad
input, 1 when the command ran but had nothing to deliver.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .cli import _app, _fail, cli_actor


def _open(app):
    from .db import get_db  # noqa: PLC0415

    d = get_db(app)
    d.upgrade()
    return d


def _term(s, code: str, as_json: bool = False):
    from .services import terms  # noqa: PLC0415

    t = terms.get_term(s, code)
    if t is None:
        _fail("term", f"找不到毕业批次：{code}", as_json)
    return t


def _unit(s, code: str | None, as_json: bool = False):
    from .services import orgs  # noqa: PLC0415

    if not code:
        return None
    u = orgs.find_unit(s, code)
    if u is None:
        _fail("unit", f"找不到分部/学习中心：{code}", as_json)
    return u


@click.group("batch")
def batch_group() -> None:
    """Upload batches (ZIP + manifests) for the imaging unit or the school."""


@batch_group.command("build")
@click.option("--term", "term_code", required=True, help="Graduation term, e.g. 2027-07.")
@click.option("--unit", "unit_code", help="分部/学习中心 (code or name): it and the units below it.")
@click.option("--kind", type=click.Choice(["unit", "school"]), default="unit", show_default=True,
              help="unit = imaging unit (needs 采集码); school = 教务系统.")
@click.option("--naming", type=click.Choice(["xh", "sfzh"]), default="xh", show_default=True,
              help="Photo file names: {学号}.jpg or {身份证号}.jpg.")
@click.option("--group", "grouping", default="", help="Folders, e.g. 分部,学习中心,层次,专业.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def batch_build(term_code, unit_code, kind, naming, grouping, out_dir, as_json) -> None:
    """Write the next batch of approved, not yet delivered photos into OUT."""
    from .services import batches  # noqa: PLC0415

    app = _app()
    d = _open(app)
    s = d.sessionmaker()
    try:
        term = _term(s, term_code, as_json)
        unit = _unit(s, unit_code, as_json)
        try:
            batch, plan = batches.build_batch(
                s, app.extensions["kiosk_store"], term, out_dir=out_dir, kind=kind, unit=unit, naming=naming,
                grouping=grouping, actor=cli_actor(), school=app.config.get("SCHOOL_NAME") or "", commit=s.commit)
        except OSError as e:
            s.rollback()
            _fail("io", f"无法写入输出目录 {out_dir}：{e.strerror or e}", as_json)
        except batches.BatchError as e:
            s.rollback()
            excluded = [{"xh": x["xh"], "reason": x["reason"]} for x in e.excluded]
            if as_json:
                click.echo(json.dumps({"ok": False, "error": {"code": e.code, "message": e.message},
                                       "excluded": excluded}, ensure_ascii=False))
            else:
                click.echo(f"错误 [{e.code}]：{e.message}", err=True)
                for x in excluded:
                    click.echo(f"  未纳入 {x['xh']}：{x['reason']}", err=True)
            sys.exit(1 if e.code == "empty" else 2)
        excluded = [{"xh": x["xh"], "reason": x["reason"]} for x in plan.excluded]
        out = {"batch_id": batch.id, "zip": batch.zip_path, "sha256": batch.zip_sha256,
               "photos": batch.photo_count, "excluded": excluded}
    finally:
        s.close()
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    click.echo(f"已生成批次 #{out['batch_id']}：{out['zip']}")
    click.echo(f"  照片 {out['photos']} 张；SHA-256 {out['sha256']}")
    if excluded:
        click.echo(f"  未纳入 {len(excluded)} 人：")
        for x in excluded:
            click.echo(f"    {x['xh']}  {x['reason']}")


@batch_group.command("list")
@click.option("--term", "term_code", help="Only this term.")
@click.option("--json", "as_json", is_flag=True)
def batch_list(term_code, as_json) -> None:
    """Recorded batches, newest first."""
    from .services import batches  # noqa: PLC0415

    app = _app()
    d = _open(app)
    with d.session() as s:
        term = _term(s, term_code, as_json) if term_code else None
        rows = [{"batch_id": b.id, "term": b.term.code, "kind": b.kind, "zip": b.zip_name, "sha256": b.zip_sha256,
                 "photos": b.photo_count, "created_at": b.created_at.isoformat(sep=" "), "created_by": b.created_by_name,
                 "excluded": len(b.excluded or [])} for b in batches.list_batches(s, term)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    if not rows:
        click.echo("没有批次记录")
    for r in rows:
        click.echo(f"#{r['batch_id']:<4} {r['term']} {r['kind']:6s} {r['photos']:>5} 张  {r['created_at']}  "
                   f"{r['created_by']}  {r['zip']}  {r['sha256'][:16]}…")


@batch_group.command("download")
@click.argument("batch_id", type=int)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def batch_download(batch_id, out_dir, as_json) -> None:
    """Copy a recorded batch's ZIP into OUT (rebuilt from the records when the file is
    gone; either way checked against the recorded SHA-256)."""
    import shutil  # noqa: PLC0415

    from upload.zipdet import atomic_output  # noqa: PLC0415

    from .models import Batch  # noqa: PLC0415
    from .services import audit, batches  # noqa: PLC0415

    app = _app()
    d = _open(app)
    with d.session() as s:
        b = s.get(Batch, batch_id)
        if b is None:
            _fail("not_found", f"找不到批次 #{batch_id}", as_json)
        try:
            src = batches.zip_file(s, app.extensions["kiosk_store"], b, app.config["EXPORT_DIR"])
        except batches.BatchError as e:
            _fail(e.code, e.message, as_json)
        dest = out_dir / b.zip_name
        if dest.resolve() != src.resolve():
            with atomic_output(dest) as f, open(src, "rb") as r:
                shutil.copyfileobj(r, f)
        audit.record(s, "batch.download", actor=cli_actor(), object_type="batch", object_id=b.id, term_id=b.term_id,
                     zip=b.zip_name, zip_sha256=b.zip_sha256, to=str(dest))
        out = {"batch_id": b.id, "zip": str(dest), "sha256": b.zip_sha256}
    click.echo(json.dumps(out, ensure_ascii=False) if as_json else f"已导出批次 #{batch_id}：{out['zip']}")




@click.command("confirm-list")
@click.option("--term", "term_code", required=True)
@click.option("--unit", "unit_code", help="分部/学习中心 (code or name).")
@click.option("--class", "class_name", help="班级.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "xlsx"]), default="pdf", show_default=True)
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--thumbnails", is_flag=True, help="Add a small photo to each row.")
@click.option("--base-url", help="Public address of this service (default: config PUBLIC_BASE_URL).")
def confirm_list(term_code, unit_code, class_name, fmt, out_file, thumbnails, base_url) -> None:
    """The confirmation list students use to check their photo on 学信网."""
    from upload.zipdet import atomic_output  # noqa: PLC0415

    from .services import confirmlist  # noqa: PLC0415

    app = _app()
    d = _open(app)
    with d.session() as s:
        term = _term(s, term_code)
        unit = _unit(s, unit_code)
        try:
            data, _ = confirmlist.build(s, app.extensions["kiosk_store"], term, fmt,
                                        base_url=base_url or app.config.get("PUBLIC_BASE_URL"),
                                        school=app.config.get("SCHOOL_NAME") or "", unit=unit,
                                        class_name=class_name, thumbnails=thumbnails, actor=cli_actor())
        except confirmlist.ConfirmListError as e:
            _fail(e.code, e.message)
        try:
            with atomic_output(out_file) as f:
                f.write(data)
        except OSError as e:
            _fail("io", f"无法写入 {out_file}：{e.strerror or e}")
    click.echo(f"已生成核对名单：{out_file}")


@click.group("coverage")
def coverage_group() -> None:
    """Coverage of a term: who is captured, approved, delivered, confirmed."""


@coverage_group.command("show")
@click.option("--term", "term_code", required=True)
@click.option("--unit", "unit_code", help="分部/学习中心 (code or name).")
@click.option("--json", "as_json", is_flag=True)
def coverage_show(term_code, unit_code, as_json) -> None:
    """Print the counts (overall and per 学习中心)."""
    from .services import coverage, orgs, terms  # noqa: PLC0415

    app = _app()
    d = _open(app)
    with d.session() as s:
        term = _term(s, term_code, as_json)
        unit = _unit(s, unit_code, as_json)
        ids = orgs.unit_and_descendant_ids(s, unit.id) if unit is not None else None
        data = coverage.coverage(s, term, ids)
        out = {"term": term.code, "unit": unit.name if unit else None, **data.total.to_dict(),
               "review_start": str(term.review_start or ""), "review_end": str(term.review_end or ""),
               "days_left": terms.days_left(term),
               "by_centre": [{"centre": name, **c.to_dict()} for name, c in data.by_centre]}
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    click.echo(f"{out['term']} {out['unit'] or '全部'}：审核窗口 {out['review_start']} – {out['review_end']}，"
               f"剩余 {out['days_left']} 天")
    for key, label in coverage.METRICS:
        click.echo(f"  {label:8s} {out[key]:>6}")
    if out["withdrawn"]:
        click.echo(f"  已撤销 {out['withdrawn']} 人（不计入应到人数）")


@coverage_group.command("export")
@click.option("--term", "term_code", required=True)
@click.option("--unit", "unit_code", help="分部/学习中心 (code or name).")
@click.option("--out", "out_file", required=True, type=click.Path(dir_okay=False, path_type=Path))
def coverage_export(term_code, unit_code, out_file) -> None:
    """XLSX of the students still missing an approved photo."""
    from upload.zipdet import atomic_output  # noqa: PLC0415

    from .services import audit, coverage, orgs  # noqa: PLC0415

    app = _app()
    d = _open(app)
    with d.session() as s:
        term = _term(s, term_code)
        unit = _unit(s, unit_code)
        ids = orgs.unit_and_descendant_ids(s, unit.id) if unit is not None else None
        data, n = coverage.missing_xlsx(s, term, ids)
        try:
            with atomic_output(out_file) as f:
                f.write(data)
        except OSError as e:
            _fail("io", f"无法写入 {out_file}：{e.strerror or e}")
        audit.record(s, "coverage.export_missing", actor=cli_actor(), object_type="term", object_id=term.code,
                     term_id=term.id, unit=unit.name if unit else None, students=n)
    click.echo(f"缺照片学生 {n} 人：{out_file}")


def register(main: click.Group) -> None:
    main.add_command(coverage_group, "coverage")
    main.add_command(batch_group, "batch")
    main.add_command(confirm_list, "confirm-list")
