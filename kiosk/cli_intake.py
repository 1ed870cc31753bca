"""``kiosk intake``: an imaging unit's ZIP or folder of photos → checked and recorded.

Registered on the main ``kiosk`` group by :func:`register`.  Progress goes to stderr
(a bar on a terminal, a line every 10 % otherwise) so ``--json`` keeps stdout one JSON
object.  Exit codes: 0 every file was approved, sent to review/pending or skipped;
1 some file was rejected, unmatched or could not be processed (fix and resend those);
2 the archive as a whole cannot be read, or a usage error (unknown term, unreadable
manifest).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .cli import _app, _fail, cli_actor


class _Progress:
    """A progress bar on stderr; plain lines when stderr is not a terminal."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last_tenth = -1
        self.last_phase = None

    def __call__(self, job) -> None:
        if not self.enabled:
            return
        from .services.intake import PHASE_ZH  # noqa: PLC0415

        if job.phase == "post" and job.post_total:
            done, total, label = job.post_done, job.post_total, PHASE_ZH["post"]
        else:
            done, total, label = job.processed, job.total, PHASE_ZH.get(job.phase, job.phase) or "完成"
        frac = done / total if total else (1.0 if job.status == "done" else 0.0)
        if self.tty:
            width = 30
            fill = int(round(frac * width))
            sys.stderr.write(f"\r{label:8s} [{'#' * fill}{'.' * (width - fill)}] {done}/{total} {frac:4.0%}  ")
            if job.status == "done":
                sys.stderr.write("\n")
            sys.stderr.flush()
            return
        tenth = int(frac * 10)
        if tenth != self.last_tenth or job.phase != self.last_phase:
            self.last_tenth, self.last_phase = tenth, job.phase
            sys.stderr.write(f"{label} {done}/{total} ({frac:.0%})\n")
            sys.stderr.flush()


def _print_human(out: dict, job) -> None:
    from .services.intake import OUTCOME_ZH  # noqa: PLC0415

    for f in out["files"]:
        if f["outcome"] == "approved":
            continue
        msg = "；".join(r.get("message_zh") or "" for r in f["reasons"])
        click.echo(f"{OUTCOME_ZH.get(f['outcome'], f['outcome']):6s} {f['name']}  {f['xh'] or ''}  {msg}")
    counts = "，".join(f"{OUTCOME_ZH[k]} {v}" for k, v in out["summary"].items() if v)
    click.echo(f"任务 #{job.id}：共 {len(out['files'])} 个文件：{counts or '无'}")
    t = (job.summary or {}).get("timings") or {}
    if t:
        click.echo(f"用时 {t.get('total_s', 0):.1f} 秒（读取 {t.get('scan_s', 0):.1f}，检查 {t.get('check_s', 0):.1f}，"
                   f"人脸特征与查重 {t.get('post_s', 0):.1f}）")
    click.echo(f"本批次仍缺合格照片的学生：{len(out['missing'])} 人")


@click.command("intake")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--term", "term_code", required=True, help="Graduation term, e.g. 2027-07.")
@click.option("--unit", "unit_name", required=True, help="Imaging unit (图像采集单位) name; created if new.")
@click.option("--key", type=click.Choice(["auto", "xh", "sfzh"]), default="auto", show_default=True,
              help="Match file names by 学号, 身份证号, or detect per file.")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV/XLSX mapping 文件名 → 学号 (or 身份证号), optionally 采集码.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report: .xlsx (3 sheets) or .csv (per file; *-missing.csv beside it).")
@click.option("--workers", type=int, default=None,
              help="Worker processes (default: JOBS_WORKERS or CPU count; 0 = inline).  In-process backend only: "
                   "with JOBS_BACKEND=celery the running `kiosk worker`s check the files.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def intake_command(path, term_code, unit_name, key, manifest_path, report_path, workers, as_json, quiet) -> None:
    """Check and record the photos in PATH (a ZIP archive or a folder)."""
    from . import jobs  # noqa: PLC0415
    from .db import get_db  # noqa: PLC0415
    from .services import intake, intake_report, orgs, terms  # noqa: PLC0415
    from .services.intake_match import ManifestError, read_manifest  # noqa: PLC0415

    if not path.exists():
        _fail("not_found", f"找不到文件或文件夹：{path}", as_json)
    manifest = None
    if manifest_path is not None:
        if not manifest_path.is_file():
            _fail("manifest", f"清单文件不存在：{manifest_path}", as_json)
        try:
            manifest = read_manifest(manifest_path.read_bytes(), manifest_path.name)
        except ManifestError as e:
            _fail(e.code, e.message_zh, as_json)
    if report_path is not None and report_path.suffix.lower() not in (".xlsx", ".csv"):
        _fail("report", "报告文件须以 .xlsx 或 .csv 结尾", as_json)
    app = _app()
    try:
        n_workers = jobs.worker_count(app.config.get("JOBS_WORKERS") if workers is None else workers)
        jobs.backend(app)
    except (jobs.JobsError, ValueError) as e:
        _fail("config", getattr(e, "message", str(e)), as_json)
    d = get_db(app)
    d.upgrade()
    s = d.sessionmaker()
    try:
        term = terms.get_term(s, term_code)
        if term is None:
            _fail("term", f"找不到毕业批次：{term_code}（请先导入名单）", as_json)
        unit = orgs.ensure_imaging_unit(s, unit_name)
        src_sha = intake.sha256_file(path) if path.is_file() else None
        job = intake.create_job(s, term, unit, source_name=path.name, source_sha256=src_sha, key=key,
                                actor=cli_actor(), options={"manifest": manifest.name if manifest else None,
                                                            "workers": n_workers, "via": "cli"})
        s.commit()
        try:
            job = jobs.run_intake(app, s, job, path, manifest=manifest, workers=n_workers,
                                  on_progress=_Progress(not quiet))
        except (intake.IntakeError, jobs.JobsError) as e:
            _fail(e.code, e.message, as_json)
        except BaseException:
            s.rollback()
            job = s.get(type(job), job.id)
            dispatched = jobs.backend(app) == "celery" and job.phase not in ("", "queued", "scan")
            if job.status not in ("done", "failed") and not dispatched:   # queued chunks go on without us
                intake.fail_job(s, job, "internal", "处理中断（内部错误或被中止）")
                s.commit()
            raise
        if job.status == "failed":              # Celery: a worker marked it failed
            code, _, msg = (job.error or "[job] 任务失败").partition("] ")
            _fail(code.lstrip("[") or "job", msg or job.error, as_json)
        out = intake_report.to_json(s, job)
        if report_path is not None:
            try:
                report_path.parent.mkdir(parents=True, exist_ok=True)
                if report_path.suffix.lower() == ".xlsx":
                    report_path.write_bytes(intake_report.xlsx_bytes(s, job))
                else:
                    report_path.write_bytes(intake_report.csv_bytes(s, job))
                    report_path.with_name(report_path.stem + "-missing.csv").write_bytes(
                        intake_report.missing_csv_bytes(s, job))
            except OSError as e:
                _fail("io", f"无法写入报告 {report_path}：{e.strerror or e}", as_json)
        code = intake.exit_code(job)
        if as_json:
            click.echo(json.dumps(out, ensure_ascii=False))
        else:
            _print_human(out, job)
            if report_path is not None:
                click.echo(f"报告：{report_path}")
    finally:
        s.close()
    sys.exit(code)


def register(main: click.Group) -> None:
    main.add_command(intake_command, "intake")
