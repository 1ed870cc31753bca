"""Roster import: the expected graduates of a term from the school's 教务系统 export.

Reads XLSX and CSV (UTF-8, UTF-8 with BOM, GBK/GB18030 — what Chinese Excel writes),
maps Chinese headers and English aliases to fields, keeps 学号 and 身份证号 as text
(restoring leading zeros Excel dropped where the evidence allows), validates every row
and reports bad ones one per line (row number, column, reason in Chinese) without
stopping the good rows.  Importing the same file twice changes nothing; an updated file
updates the changed rows and lists each change.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from .. import idcard
from ..db import lock_rows
from ..models import OrgUnit, Student, Term, utcnow
from . import audit
from .orgs import OrgCache

# Canonical fields, their Chinese labels and accepted header spellings.
FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "xh": ("学号", ("学号", "xh", "studentid", "studentno", "studentnumber", "student_id", "student_no", "学生编号")),
    "name": ("姓名", ("姓名", "xm", "name", "studentname", "学生姓名")),
    "gender": ("性别", ("性别", "xb", "gender", "sex")),
    "id_number": ("身份证号", ("身份证号", "身份证号码", "证件号码", "证件号", "sfzh", "idnumber", "idcard", "id_number",
                          "idcardno", "nationalid")),
    "level": ("层次", ("层次", "cc", "level", "学历层次", "培养层次")),
    "major": ("专业", ("专业", "专业名称", "zymc", "major", "programme", "program")),
    "centre": ("学习中心", ("学习中心", "教学点", "xxzx", "centre", "center", "learningcentre", "learningcenter",
                        "studycentre", "studycenter")),
    "branch": ("分部", ("分部", "分校", "地市分校", "fb", "branch", "campus")),
    "class_name": ("班级", ("班级", "bj", "class", "classname", "班级名称")),
    "enrol_date": ("入学日期", ("入学日期", "入学时间", "rxrq", "enroldate", "enrolmentdate", "enrollmentdate",
                            "admissiondate")),
    "expected_grad_date": ("预计毕业日期", ("预计毕业日期", "预计毕业时间", "毕业日期", "yjbyrq", "graddate",
                                       "expectedgraduation", "expectedgraduationdate", "graduationdate")),
}
REQUIRED = ("xh", "name", "id_number")
# Longest text each free-text field's column holds.  SQLite would store a longer one
# silently; PostgreSQL refuses it (and with it the whole import), so such a row is
# rejected on both.  (身份证号 and 性别 are validated and normalised on their own.)
MAX_LEN: dict[str, int] = {f: Student.__table__.c[f].type.length
                           for f in ("xh", "name", "level", "major", "class_name")}
MAX_LEN["centre"] = MAX_LEN["branch"] = OrgUnit.__table__.c.name.type.length
# Fields compared for "changed" on re-import (centre compared by id).
COMPARED = ("name", "gender", "id_number", "id_legacy", "level", "major", "centre_id", "class_name",
            "enrol_date", "expected_grad_date")

XH_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,31}$")
MAX_ROWS = 200_000


def _norm_header(h: Any) -> str:
    s = str(h or "").replace("\ufeff", "").strip().lower()
    s = re.sub(r"[\s_\-（）()（）:：*]", "", s)
    return s


_ALIASES: dict[str, str] = {}
for _f, (_label, _names) in FIELDS.items():
    for _n in _names:
        _ALIASES[_norm_header(_n)] = _f


def label(field_name: str | None) -> str | None:
    return FIELDS[field_name][0] if field_name in FIELDS else field_name


class RosterFileError(Exception):
    """The file as a whole cannot be read as a roster."""

    def __init__(self, code: str, message_zh: str):
        super().__init__(message_zh)
        self.code = code
        self.message_zh = message_zh


@dataclass
class RowIssue:
    row: int | None          # row number as the user sees it (header = row 1)
    column: str | None       # Chinese column label
    code: str
    message_zh: str
    level: str = "error"     # error (row not imported) | warning (imported)

    def line(self) -> str:
        where = f"第 {self.row} 行" if self.row else "文件"
        col = f"［{self.column}］" if self.column else ""
        tag = "" if self.level == "error" else "（提醒）"
        return f"{where}{col}{tag} {self.message_zh}"


@dataclass
class RosterReport:
    file: str
    term: str
    sha256: str = ""
    dry_run: bool = False
    total_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    issues: list[RowIssue] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    fatal: RowIssue | None = None

    @property
    def errors(self) -> list[RowIssue]:
        return [i for i in self.issues if i.level == "error"]

    @property
    def warnings(self) -> list[RowIssue]:
        return [i for i in self.issues if i.level == "warning"]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.fatal is None
        return d


# ---------------------------------------------------------------------------- reading
@dataclass
class _Cell:
    value: Any
    number_format: str | None = None


def read_table(data: bytes, filename: str = "") -> tuple[int, list[str], list[tuple[int, list[_Cell]]]]:
    """Return ``(header_row_number, headers, [(row_number, cells)])`` from XLSX or CSV bytes."""
    if not data or not data.strip():
        raise RosterFileError("empty", "文件为空")
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise RosterFileError("xls", "不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 或 CSV")
    return _read_csv(data)


def _decode_text(data: bytes) -> str:
    head = data[:65536]
    # Control bytes never occur in UTF-8 or GBK text (GBK trail bytes are >= 0x40).
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if b"\x00" in head or controls > len(head) // 200:
        raise RosterFileError("binary", "文件不是文本 CSV（含二进制内容），请导出为 .xlsx 或 CSV")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict")
    for enc in ("utf-8", "gb18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        # Binary junk can decode as GB18030; require mostly printable text.
        bad = sum(1 for ch in text[:20000] if (ord(ch) < 32 and ch not in "\r\n\t") or ch == "\ufffd")
        if bad > max(3, len(text[:20000]) // 200):
            break
        return text
    raise RosterFileError("encoding", "无法识别文件编码（支持 UTF-8、带 BOM 的 UTF-8、GBK），或文件不是文本 CSV")


def _read_csv(data: bytes):
    text = _decode_text(data)
    sample = text[:8192]
    delim = ","
    try:
        delim = csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        if "\t" in sample and "," not in sample:
            delim = "\t"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    rows: list[tuple[int, list[_Cell]]] = []
    header: list[str] | None = None
    header_row = 0
    try:
        for lineno, rec in enumerate(reader, start=1):
            if header is None:
                if not any(c.strip() for c in rec):
                    continue
                header, header_row = [c for c in rec], lineno
                continue
            rows.append((lineno, [_Cell(c) for c in rec]))
            if len(rows) > MAX_ROWS:
                raise RosterFileError("too_many_rows", f"行数超过上限 {MAX_ROWS}")
    except csv.Error as e:
        raise RosterFileError("csv", f"CSV 格式错误：{e}") from None
    if header is None:
        raise RosterFileError("empty", "文件为空（没有表头）")
    return header_row, header, rows


def _read_xlsx(data: bytes):
    import openpyxl  # noqa: PLC0415

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise RosterFileError("xlsx", f"无法打开 Excel 文件：{e}") from None
    try:
        ws = None
        for sheet in wb.worksheets:  # the first sheet with a 学号 column, else the first
            for r in sheet.iter_rows(min_row=1, max_row=10, values_only=True):
                if any(_ALIASES.get(_norm_header(v)) == "xh" for v in r if v is not None):
                    ws = sheet
                    break
            if ws is not None:
                break
        ws = ws or wb.worksheets[0]
        header: list[str] | None = None
        header_row = 0
        rows: list[tuple[int, list[_Cell]]] = []
        for rownum, r in enumerate(ws.iter_rows(), start=1):
            cells = [_Cell(c.value, getattr(c, "number_format", None)) for c in r]
            if header is None:
                if not any(c.value not in (None, "") for c in cells):
                    continue
                header, header_row = ["" if c.value is None else str(c.value) for c in cells], rownum
                continue
            rows.append((rownum, cells))
            if len(rows) > MAX_ROWS:
                raise RosterFileError("too_many_rows", f"行数超过上限 {MAX_ROWS}")
    finally:
        wb.close()
    if header is None:
        raise RosterFileError("empty", "文件为空（没有表头）")
    return header_row, header, rows


# ---------------------------------------------------------------------------- values
def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _zero_format_width(fmt: str | None) -> int:
    """``'000000000000'`` (Excel custom format) → 12; anything else → 0."""
    if fmt and re.fullmatch(r"0+", fmt.strip()):
        return len(fmt.strip())
    return 0


def _code_text(cell: _Cell) -> tuple[str, bool]:
    """Text of a code cell (学号); second item is True when Excel stored it as a bare number."""
    v = cell.value
    if isinstance(v, bool):
        return str(v), False
    if isinstance(v, (int, float)):
        if isinstance(v, float) and not v.is_integer():
            return repr(v), True
        s = str(int(v))
        width = _zero_format_width(cell.number_format)
        if width:
            return s.zfill(width), False
        return s, True
    return _text(v), False


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y-%m", "%Y/%m", "%Y.%m", "%Y%m",
                 "%Y年%m月%d日", "%Y年%m月")


def _date(v: Any) -> dt.date | None:
    """Parse a date cell; raises ValueError when it is not empty and not a date."""
    if v is None or v == "":
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, (int, float)) and 20000 <= float(v) <= 80000:  # Excel serial day
        return dt.date(1899, 12, 30) + dt.timedelta(days=int(v))
    s = _text(v)
    s = re.sub(r"\s+\d{1,2}:\d{2}(:\d{2})?$", "", s)
    for fmt in _DATE_FORMATS:
        try:
            d = dt.datetime.strptime(s, fmt).date()
        except ValueError:
            continue
        return d
    raise ValueError(s)


_GENDER = {"男": "男", "m": "男", "male": "男", "1": "男", "女": "女", "f": "女", "female": "女", "2": "女"}


# ---------------------------------------------------------------------------- import
@dataclass
class _Row:
    rownum: int
    values: dict[str, Any]
    xh_numeric: bool = False


def parse_rows(data: bytes, filename: str = "", *, today: dt.date | None = None
               ) -> tuple[list[_Row], list[RowIssue], int]:
    """Parse and validate a roster file.  Returns ``(good_rows, issues, total_rows)``.

    Raises :class:`RosterFileError` when the file as a whole is unusable.
    """
    header_row, headers, raw_rows = read_table(data, filename)
    colmap: dict[int, str] = {}
    issues: list[RowIssue] = []
    seen_fields: dict[str, int] = {}
    for i, h in enumerate(headers):
        f = _ALIASES.get(_norm_header(h))
        if f is None:
            continue
        if f in seen_fields:
            issues.append(RowIssue(header_row, label(f), "duplicate_column",
                                   f"表头中“{label(f)}”出现了两次，只使用第一列", "warning"))
            continue
        seen_fields[f] = i
        colmap[i] = f
    missing = [label(f) for f in REQUIRED if f not in seen_fields]
    if missing:
        raise RosterFileError("missing_columns", "缺少必需的列：" + "、".join(missing)
                              + "（支持的表头：" + "、".join(v[0] for v in FIELDS.values()) + "）")

    rows: list[_Row] = []
    total = 0
    for rownum, cells in raw_rows:
        if not any(_text(c.value) for c in cells):
            continue
        total += 1
        vals: dict[str, Any] = {}
        row_issues: list[RowIssue] = []
        xh_numeric = False
        for i, f in colmap.items():
            cell = cells[i] if i < len(cells) else _Cell(None)
            if f == "xh":
                vals[f], xh_numeric = _code_text(cell)
            elif f == "id_number":
                v = cell.value
                if isinstance(v, float) and not v.is_integer() or (isinstance(v, (int, float)) and abs(v) >= 1e15):
                    row_issues.append(RowIssue(rownum, "身份证号", "id_number_numeric",
                                               "身份证号被 Excel 存成了数字，后几位已丢失；请把该列设为“文本”后重新导出"))
                    vals[f] = ""
                else:
                    vals[f] = _code_text(cell)[0]
            elif f in ("enrol_date", "expected_grad_date"):
                try:
                    vals[f] = _date(cell.value)
                except ValueError:
                    vals[f] = None
                    row_issues.append(RowIssue(rownum, label(f), "date",
                                               f"无法识别的日期“{_text(cell.value)}”，已留空（请用 2027-07-01 格式）",
                                               "warning"))
            else:
                vals[f] = _text(cell.value) or None
        # --- validation
        for f, limit in MAX_LEN.items():
            v = vals.get(f)
            if isinstance(v, str) and len(v) > limit:
                row_issues.append(RowIssue(rownum, label(f), "too_long",
                                           f"{label(f)}过长（{len(v)} 个字符，最多 {limit} 个）"))
        xh = vals.get("xh") or ""
        if not xh:
            row_issues.append(RowIssue(rownum, "学号", "xh_empty", "学号为空"))
        elif not XH_RE.match(xh):
            row_issues.append(RowIssue(rownum, "学号", "xh_chars", f"学号“{xh}”含有不允许的字符（只允许字母、数字、-、_）"))
        if not vals.get("name"):
            row_issues.append(RowIssue(rownum, "姓名", "name_empty", "姓名为空"))
        if "id_number_numeric" not in {x.code for x in row_issues}:
            chk = idcard.validate(vals.get("id_number") or "", today=today)
            vals["id_number"] = chk.value
            vals["id_legacy"] = chk.legacy
            if not chk.ok:
                row_issues.append(RowIssue(rownum, "身份证号", f"id_{chk.code}", chk.message_zh))
            elif chk.legacy:
                row_issues.append(RowIssue(rownum, "身份证号", "id_legacy15", chk.message_zh, "warning"))
            if chk.ok and vals.get("gender"):
                g = _GENDER.get(vals["gender"].strip().lower())
                if g is None:
                    row_issues.append(RowIssue(rownum, "性别", "gender", f"无法识别的性别“{vals['gender']}”，已按身份证号推断",
                                               "warning"))
                    vals["gender"] = chk.gender
                else:
                    vals["gender"] = g
                    if chk.gender and g != chk.gender:
                        row_issues.append(RowIssue(rownum, "性别", "gender_mismatch",
                                                   f"性别“{g}”与身份证号（{chk.gender}）不一致，请核对", "warning"))
            elif chk.ok:
                vals["gender"] = chk.gender
        issues.extend(row_issues)
        if any(x.level == "error" for x in row_issues):
            continue
        rows.append(_Row(rownum, vals, xh_numeric))

    _restore_leading_zeros(rows, issues)

    # Duplicates inside the file: the first occurrence wins.
    first_xh: dict[str, int] = {}
    first_id: dict[str, int] = {}
    kept: list[_Row] = []
    for r in rows:
        xh, idn = r.values["xh"], r.values["id_number"]
        if xh in first_xh:
            issues.append(RowIssue(r.rownum, "学号", "duplicate_xh", f"学号 {xh} 与第 {first_xh[xh]} 行重复，本行未导入"))
            continue
        if idn in first_id:
            issues.append(RowIssue(r.rownum, "身份证号", "duplicate_id",
                                   f"身份证号 {idcard.mask(idn)} 与第 {first_id[idn]} 行重复，本行未导入"))
            continue
        first_xh[xh] = r.rownum
        first_id[idn] = r.rownum
        kept.append(r)
    issues.sort(key=lambda i: (i.row or 0, i.level != "error"))
    return kept, issues, total


def _restore_leading_zeros(rows: list[_Row], issues: list[RowIssue]) -> None:
    """学号 that Excel stored as bare numbers lose their leading zeros.  When the file's
    text 学号 share one length and the number is shorter, pad it back and say so."""
    text_lengths = Counter(len(r.values["xh"]) for r in rows if not r.xh_numeric and r.values["xh"].isdigit())
    numeric = [r for r in rows if r.xh_numeric]
    if not numeric:
        return
    width = None
    if text_lengths:
        width, n = text_lengths.most_common(1)[0]
        if n < 0.8 * sum(text_lengths.values()):
            width = None
    for r in numeric:
        xh = r.values["xh"]
        if width and xh.isdigit() and len(xh) < width:
            r.values["xh"] = xh.zfill(width)
            issues.append(RowIssue(r.rownum, "学号", "xh_zero_restored",
                                   f"学号在 Excel 中被存成数字 {xh}，已按本文件学号长度补回前导零为 {r.values['xh']}",
                                   "warning"))
        elif not width:
            issues.append(RowIssue(r.rownum, "学号", "xh_numeric",
                                   f"学号 {xh} 在 Excel 中被存成数字，若原学号有前导零已丢失，请把该列设为“文本”后重新导出",
                                   "warning"))


def import_roster(session: Session, term: Term, data: bytes, filename: str = "", *, actor=None,
                  dry_run: bool = False, today: dt.date | None = None) -> RosterReport:
    """Import a roster file into ``term``.  Flushes; the caller commits (or rolls back for a dry run)."""
    report = RosterReport(file=Path(filename).name if filename else "", term=term.code,
                          sha256=hashlib.sha256(data or b"").hexdigest(), dry_run=dry_run)
    try:
        rows, issues, total = parse_rows(data, filename, today=today)
    except RosterFileError as e:
        report.fatal = RowIssue(None, None, e.code, e.message_zh)
        report.issues.append(report.fatal)
        return report
    report.total_rows = total
    report.issues.extend(issues)

    if not dry_run:
        # Two imports into one term at once (two admins, web and CLI) would both find a
        # student missing and both insert him: the second hits the unique (term, 学号)
        # index.  One after the other, the second sees the first's rows.
        lock_rows(session, Term, [term.id])
    existing = {s.xh: s for s in session.scalars(select(Student).where(Student.term_id == term.id))}
    id_owner = {s.id_number: s.xh for s in existing.values()}
    orgs = OrgCache(session)
    new_rows: list[dict[str, Any]] = []
    now = utcnow()
    for r in rows:
        v = r.values
        centre_id = None
        if v.get("centre"):
            centre_id = orgs.centre(v["centre"], v.get("branch")).id
        rec = {
            "name": v["name"], "gender": v.get("gender"), "id_number": v["id_number"],
            "id_legacy": bool(v.get("id_legacy")), "level": v.get("level"), "major": v.get("major"),
            "centre_id": centre_id, "class_name": v.get("class_name"), "enrol_date": v.get("enrol_date"),
            "expected_grad_date": v.get("expected_grad_date"),
        }
        owner = id_owner.get(rec["id_number"])
        if owner is not None and owner != v["xh"]:
            report.issues.append(RowIssue(r.rownum, "身份证号", "id_taken",
                                          f"身份证号 {idcard.mask(rec['id_number'])} 在本批次中已属于学号 {owner}，本行未导入"))
            continue
        cur = existing.get(v["xh"])
        if cur is not None and cur.withdrawn_at is not None:
            # A withdrawal is an admin's decision; the roster file does not undo it.
            report.issues.append(RowIssue(r.rownum, "学号", "withdrawn",
                                          f"学号 {cur.xh} 已从本期名单撤销，仍保持撤销（如需恢复，请在学生列表中点“恢复”）",
                                          level="warning"))
        if cur is None:
            new_rows.append({"term_id": term.id, "xh": v["xh"], "created_at": now, "updated_at": now, **rec})
            id_owner[rec["id_number"]] = v["xh"]
            report.created += 1
            continue
        changed = {}
        for k in COMPARED:
            old = getattr(cur, k)
            if k == "gender" and rec[k] is None:
                continue  # a file without a 性别 column does not erase it
            if old != rec[k]:
                changed[k] = (old, rec[k])
        if not changed:
            report.unchanged += 1
            continue
        if "id_number" in changed:
            id_owner.pop(cur.id_number, None)
            id_owner[rec["id_number"]] = cur.xh
        for k, (old, new) in changed.items():
            setattr(cur, k, new)
            report.changes.append({"row": r.rownum, "xh": cur.xh, "field": _field_label(k),
                                   "old": _show(k, old), "new": _show(k, new)})
        report.updated += 1
    if new_rows:
        session.execute(insert(Student), new_rows)
    session.flush()
    report.issues.sort(key=lambda i: (i.row or 0, i.level != "error"))
    report.rejected = len({i.row for i in report.issues if i.level == "error" and i.row})
    if not dry_run:
        audit.record(session, "roster.import", actor=actor, object_type="term", object_id=term.code,
                     term_id=term.id, file=report.file, sha256=report.sha256, rows=report.total_rows,
                     created=report.created, updated=report.updated, unchanged=report.unchanged,
                     rejected=report.rejected)
    return report


def _field_label(k: str) -> str:
    return {"centre_id": "学习中心", "id_legacy": "身份证号（15 位）"}.get(k) or label(k) or k


def _show(k: str, v: Any) -> str:
    if v is None:
        return ""
    if k == "id_number":
        return idcard.mask(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def format_report(report: RosterReport) -> Iterable[str]:
    """Human-readable lines (Chinese) for the CLI and logs."""
    mode = "（试运行，未写入）" if report.dry_run else ""
    yield f"名单导入 {report.file} → 批次 {report.term}{mode}"
    if report.fatal:
        yield f"  错误：{report.fatal.message_zh}"
        return
    yield (f"  共 {report.total_rows} 行：新增 {report.created}，更新 {report.updated}，"
           f"未变 {report.unchanged}，拒绝 {report.rejected}")
    for i in report.issues:
        yield "  " + i.line()
    for c in report.changes:
        yield f"  更新 第 {c['row']} 行 学号 {c['xh']}［{c['field']}］：“{c['old']}” → “{c['new']}”"
