"""XLSX workbooks with the same bytes for the same content.

openpyxl stamps ``modified`` with the current time when saving and its ZIP members with
the current time too; :func:`workbook_bytes` fixes both (workbook created/modified =
:data:`FIXED_DATETIME`, members re-packed by :func:`upload.zipdet.normalize_zip`).
Text cells stay text: a value such as ``=1+1`` (an opaque 采集码 may look like anything)
is written as a string, never as a formula.
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from typing import Any, Iterable, Sequence

from .zipdet import normalize_zip

FIXED_DATETIME = dt.datetime(2000, 1, 1, 0, 0, 0)


def new_workbook():
    from openpyxl import Workbook  # noqa: PLC0415

    wb = Workbook()
    wb.properties.creator = "kiosk"
    wb.properties.lastModifiedBy = "kiosk"
    return wb


def put_row(ws, row_idx: int, values: Sequence[Any], *, text_cols: Iterable[int] = ()) -> None:
    """Write ``values`` into row ``row_idx`` (1-based); strings are always strings."""
    text_cols = set(text_cols)
    for j, v in enumerate(values, start=1):
        cell = ws.cell(row=row_idx, column=j)
        cell.value = v
        if isinstance(v, str):
            cell.data_type = "s"      # never a formula, whatever the text starts with
        if j in text_cols:
            cell.number_format = "@"


def simple_sheet(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], *,
                 widths: Sequence[int] | None = None, text_cols: Iterable[int] = (),
                 preamble: Sequence[str] = ()):
    """A one-sheet workbook: optional preamble lines, a bold frozen header row, rows."""
    from openpyxl.styles import Font  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    wb = new_workbook()
    ws = wb.active
    ws.title = title[:31]
    r = 1
    for line in preamble:
        put_row(ws, r, [line])
        r += 1
    put_row(ws, r, list(headers))
    for c in ws[r]:
        c.font = Font(bold=True)
    ws.freeze_panes = ws.cell(row=r + 1, column=1)
    text_cols = tuple(text_cols)
    for values in rows:
        r += 1
        put_row(ws, r, list(values), text_cols=text_cols)
    for j, w in enumerate(widths or (), start=1):
        ws.column_dimensions[get_column_letter(j)].width = w
    return wb


def workbook_bytes(wb, when: dt.datetime = FIXED_DATETIME) -> bytes:
    """Serialise ``wb`` deterministically (fixed document times, fixed member times)."""
    from openpyxl.writer.excel import ExcelWriter  # noqa: PLC0415

    wb.properties.created = when
    wb.properties.modified = when
    buf = io.BytesIO()
    archive = zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    ExcelWriter(wb, archive).save()   # not save_workbook(): it stamps "modified = now"
    return normalize_zip(buf.getvalue())
