"""Batch manifests: the columns of spec §6 as CSV (UTF-8 with BOM) and XLSX, and SHA256SUMS.

Pure functions over plain :class:`ManifestRow` values; nothing here knows about the
database.  The manifests carry the full 身份证号: they are for the imaging unit and the
school's 教务系统, whose records are keyed by it.
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Sequence

from .sheets import simple_sheet, workbook_bytes


@dataclass(frozen=True)
class ManifestRow:
    """One photo of a batch, as the manifest lists it (every value already text)."""

    arcname: str         # path of the photo inside the ZIP
    xh: str              # 学号
    name: str            # 姓名
    gender: str          # 性别
    id_number: str       # 身份证号 (full)
    level: str           # 层次
    major: str           # 专业
    branch: str          # 分部
    centre: str          # 学习中心
    class_name: str      # 班级
    collect_code: str    # 图像采集码, verbatim as scanned
    captured_at: str     # capture time, UTC, "YYYY-MM-DD HH:MM:SS"
    station: str         # capture station
    operator: str        # operator (username)
    qc_verdict: str      # pass | warn | fail (override)
    profile: str         # QC profile and version, e.g. "chsi_xueli_v1 1.0"
    sha256: str          # SHA-256 of the photo bytes

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ManifestRow":
        names = {f.name for f in fields(cls)}
        return cls(**{k: "" if d.get(k) is None else str(d.get(k)) for k in names})


#: (field, header) in manifest order: spec §6 columns, with the file name first.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("arcname", "文件名"),
    ("xh", "学号(XH)"),
    ("name", "姓名(XM)"),
    ("gender", "性别(XB)"),
    ("id_number", "身份证号(SFZH)"),
    ("level", "层次(CC)"),
    ("major", "专业(ZYMC)"),
    ("branch", "分部"),
    ("centre", "学习中心"),
    ("class_name", "班级"),
    ("collect_code", "图像采集码"),
    ("captured_at", "采集时间(UTC)"),
    ("station", "采集工位"),
    ("operator", "操作员"),
    ("qc_verdict", "检测结论"),
    ("profile", "规范版本"),
    ("sha256", "SHA-256"),
)
HEADERS = tuple(h for _, h in COLUMNS)
WIDTHS = (26, 16, 10, 6, 22, 6, 18, 12, 16, 16, 28, 20, 12, 12, 8, 18, 66)


def _values(row: ManifestRow) -> list[str]:
    return [getattr(row, f) for f, _ in COLUMNS]


def manifest_csv(rows: Sequence[ManifestRow]) -> bytes:
    """CSV, UTF-8 with BOM (so Excel opens it as UTF-8), CRLF line ends."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADERS)
    for r in rows:
        w.writerow(_values(r))
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def manifest_xlsx(rows: Sequence[ManifestRow]) -> bytes:
    """XLSX with the same columns; every value is a text cell (学号/身份证号 keep zeros)."""
    wb = simple_sheet("manifest", HEADERS, (_values(r) for r in rows), widths=WIDTHS,
                      text_cols=range(1, len(COLUMNS) + 1))
    return workbook_bytes(wb)


def read_manifest_csv(data: bytes) -> list[dict[str, str]]:
    """Parse a manifest CSV back into dicts keyed by field name (for checks and tests)."""
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    by_header = {h: f for f, h in COLUMNS}
    keys = [by_header.get(h, h) for h in header]
    return [dict(zip(keys, rec)) for rec in reader]


def sha256sums(files: Iterable[tuple[str, str]]) -> bytes:
    """``SHA256SUMS`` in the format ``sha256sum -c`` reads: ``<hex>  <name>`` per line,
    sorted by name."""
    lines = [f"{digest}  {name}\n" for name, digest in sorted(files, key=lambda x: x[0].encode("utf-8"))]
    return "".join(lines).encode("utf-8")


def parse_sha256sums(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            digest, name = line.split("  ", 1)
            out[name] = digest
    return out
