"""The intake report: one row per file, a summary, and who still has no usable photo.

Three shapes of the same facts, all read from the database (so the report and the
database cannot disagree):

* :func:`to_json` — what ``kiosk intake --json`` prints:
  ``{"files": [{"name", "xh", "outcome", "reasons": [{"check" | "code", "message_zh"}]}],
  "summary": {outcome: count}, "missing": [学号, …]}`` (plus a few job fields);
* :func:`xlsx_bytes` — 逐个文件 (file, 学号, 姓名, outcome, failed checks, messages),
  汇总 (the job and its counts), 缺照片学生 (the reconciliation);
* :func:`csv_bytes` — the per-file sheet as CSV (UTF-8 with BOM, so Excel opens it),
  and :func:`missing_csv_bytes` for the reconciliation.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from upload.sheets import new_workbook, put_row, workbook_bytes

from ..models import ImagingUnit, IntakeFile, IntakeJob, Photo, Student, Term
from .intake import OUTCOME_ZH, OUTCOMES, job_files, missing_students

FILE_HEADERS = ["序号", "文件名", "学号", "姓名", "结果", "匹配方式", "未通过/提醒的检查", "原因说明"]
MISSING_HEADERS = ["学号", "姓名", "学习中心", "班级", "最新照片状态"]
KEY_KIND_ZH = {"xh": "学号", "sfzh": "身份证号", "manifest": "清单"}


def reason_text(reasons: list[dict]) -> tuple[str, str]:
    """``(checks, messages)``: the failed/warned check names (or reason codes) and their
    Chinese messages, each joined with ``；``."""
    names = [r.get("check") or r.get("code") or "" for r in reasons or []]
    msgs = [r.get("message_zh") or "" for r in reasons or []]
    return "；".join(n for n in names if n), "；".join(m for m in msgs if m)


def _students(session: Session, files: list[IntakeFile]) -> dict[int, Student]:
    ids = sorted({f.student_id for f in files if f.student_id is not None})
    out: dict[int, Student] = {}
    for i in range(0, len(ids), 500):
        for st in session.scalars(select(Student).where(Student.id.in_(ids[i:i + 500]))):
            out[st.id] = st
    return out


def file_rows(session: Session, job: IntakeJob) -> list[dict[str, Any]]:
    """Per-file rows in archive order: name, xh, student name, outcome, reasons…"""
    files = job_files(session, job)
    studs = _students(session, files)
    rows = []
    for f in files:
        st = studs.get(f.student_id) if f.student_id else None
        rows.append({"name": f.name, "xh": f.xh, "student_name": st.name if st else None, "outcome": f.outcome,
                     "outcome_zh": OUTCOME_ZH.get(f.outcome, f.outcome), "key_kind": f.key_kind,
                     "reasons": list(f.reasons or []), "photo_id": f.photo_id, "sha256": f.sha256,
                     "position": f.position})
    return rows


def summary_counts(rows: list[dict]) -> dict[str, int]:
    counts = {o: 0 for o in OUTCOMES}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    return counts


def to_json(session: Session, job: IntakeJob) -> dict[str, Any]:
    rows = file_rows(session, job)
    term = session.get(Term, job.term_id)
    missing = [s.xh for s in missing_students(session, term)]
    files = []
    for r in rows:
        reasons = []
        for x in r["reasons"]:
            d = {"check": x["check"]} if x.get("check") else {"code": x.get("code")}
            if x.get("check") and x.get("status"):
                d["status"] = x["status"]
            d["message_zh"] = x.get("message_zh") or ""
            reasons.append(d)
        files.append({"name": r["name"], "xh": r["xh"], "outcome": r["outcome"], "reasons": reasons})
    return {"job": job.id, "term": term.code, "status": job.status, "files": files,
            "summary": summary_counts(rows), "missing": missing}


def _missing_rows(session: Session, term: Term) -> list[list[Any]]:
    studs = missing_students(session, term)
    latest: dict[int, str] = {}
    ids = [s.id for s in studs]
    for i in range(0, len(ids), 500):
        for sid, status in session.execute(select(Photo.student_id, Photo.status)
                                           .where(Photo.student_id.in_(ids[i:i + 500]))
                                           .order_by(Photo.student_id, Photo.version)):
            latest[sid] = status
    from ..i18n import STATUS_ZH  # noqa: PLC0415

    return [[s.xh, s.name, s.centre.name if s.centre else "", s.class_name or "",
             STATUS_ZH.get(latest.get(s.id), "无照片")] for s in studs]


def _file_table(rows: list[dict]) -> list[list[Any]]:
    out = []
    for i, r in enumerate(rows, start=1):
        checks, msgs = reason_text(r["reasons"])
        out.append([i, r["name"], r["xh"] or "", r["student_name"] or "", r["outcome_zh"],
                    KEY_KIND_ZH.get(r["key_kind"] or "", ""), checks, msgs])
    return out


def xlsx_bytes(session: Session, job: IntakeJob) -> bytes:
    from openpyxl.styles import Font  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    term = session.get(Term, job.term_id)
    unit = session.get(ImagingUnit, job.imaging_unit_id) if job.imaging_unit_id else None
    rows = file_rows(session, job)
    counts = summary_counts(rows)
    missing = _missing_rows(session, term)
    wb = new_workbook()

    def sheet(ws, headers, body, widths, text_cols=()):
        put_row(ws, 1, headers)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for r, values in enumerate(body, start=2):
            put_row(ws, r, values, text_cols=text_cols)
        for j, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(j)].width = w

    ws = wb.active
    ws.title = "逐个文件"
    sheet(ws, FILE_HEADERS, _file_table(rows), (6, 36, 16, 10, 10, 8, 30, 80), text_cols=(3,))
    ws2 = wb.create_sheet("汇总")
    info = [["毕业批次", term.code], ["图像采集单位", unit.name if unit else ""], ["来源", job.source_name],
            ["来源 SHA-256", job.source_sha256 or ""], ["提交人", job.created_by_name],
            ["开始时间 (UTC)", job.started_at.strftime("%Y-%m-%d %H:%M:%S") if job.started_at else ""],
            ["结束时间 (UTC)", job.finished_at.strftime("%Y-%m-%d %H:%M:%S") if job.finished_at else ""],
            ["状态", {"done": "完成", "failed": "失败", "running": "进行中", "queued": "排队中"}.get(job.status, job.status)],
            ["文件总数", len(rows)]]
    info += [[f"{OUTCOME_ZH[o]}（{o}）", counts.get(o, 0)] for o in OUTCOMES]
    size, withdrawn = _term_size(session, term)
    info += [["名单人数", size], ["已撤销学生（不计入名单人数）", withdrawn],
             ["其中：文件对应已撤销学生、未导入", sum(1 for r in rows if any(
                 x.get("code") == "withdrawn" for x in r["reasons"]))],
             ["仍缺合格照片的学生", len(missing)]]
    if job.error:
        info.append(["错误", job.error])
    sheet(ws2, ["项目", "值"], info, (24, 70))
    ws3 = wb.create_sheet("缺照片学生")
    sheet(ws3, MISSING_HEADERS, missing, (16, 10, 20, 20, 14), text_cols=(1,))
    return workbook_bytes(wb)


def _term_size(session: Session, term: Term) -> tuple[int, int]:
    """``(on the roster, withdrawn)``: students of ``term`` counted, and those withdrawn."""
    from sqlalchemy import func  # noqa: PLC0415

    n = session.scalar(select(func.count()).select_from(Student).where(Student.term_id == term.id)) or 0
    gone = session.scalar(select(func.count()).select_from(Student).where(
        Student.term_id == term.id, Student.withdrawn_at.is_not(None))) or 0
    return n - gone, gone


def _csv(headers: list[str], body: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(headers)
    for r in body:
        # A leading = + - @ would make Excel evaluate the cell: prefix a quote mark.
        w.writerow([f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in r])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def csv_bytes(session: Session, job: IntakeJob) -> bytes:
    """The per-file report as CSV (UTF-8 with BOM)."""
    return _csv(FILE_HEADERS, _file_table(file_rows(session, job)))


def missing_csv_bytes(session: Session, job: IntakeJob) -> bytes:
    return _csv(MISSING_HEADERS, _missing_rows(session, session.get(Term, job.term_id)))
