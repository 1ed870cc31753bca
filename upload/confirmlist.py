"""Confirmation lists: who has which photo status, and how to check it on 学信网.

A printable A4 PDF (Chinese with reportlab's built-in CID font ``STSong-Light`` — the
Adobe Song font every PDF viewer supplies for Simplified Chinese, so nothing is
downloaded or embedded) and the same rows as XLSX.  Each starts with a header block:
how to check on 学信网 (学信档案 → 学籍 → 学历照片, 正确 / 有误), the deadline, and where
to report a problem (the self-check page's address, with a QR code in the PDF).

Rows carry the *masked* 身份证号 only: the list is posted or handed out.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Sequence

from .sheets import FIXED_DATETIME, new_workbook, put_row, workbook_bytes

FONT = "STSong-Light"
TITLE = "毕业生学历照片核对名单"


@dataclass(frozen=True)
class ConfirmHeader:
    school: str
    term_code: str
    term_name: str
    scope: str            # "全部" / 学习中心 / 班级 the list covers
    deadline: str         # e.g. "2027年6月20日" or "毕业审核期间（2027-08-01 至 2027-11-30）"
    check_url: str        # the self-check page
    generated_at: str = ""


@dataclass(frozen=True)
class ConfirmRow:
    xh: str
    name: str
    id_masked: str
    status: str           # photo status, Chinese
    batch_date: str       # when the approved photo was first delivered in a batch, or ""
    self_check: str = ""  # the student's answer on the self-check page: 正确 / 有误 / ""
    centre: str = ""
    class_name: str = ""
    thumbnail: bytes | None = None   # small JPEG, when asked for


def instructions(h: ConfirmHeader) -> list[str]:
    return [
        "1. 登录中国高等教育学生信息网（学信网，www.chsi.com.cn），进入“学信档案” → “学籍”，"
        "查看学籍信息中的“学历照片”（毕业照片显示在录取照片旁）。",
        "2. 核对照片是否为本人、是否清晰端正：无误请选择“正确”；照片不是本人、质量有问题或信息不符，请选择“有误”。",
        f"3. 核对截止：{h.deadline}。毕业当年 7 月 1 日后照片不能再更改，请务必及时核对。",
        f"4. 发现问题请通过照片自助核对页面报告（输入学号和身份证号后 6 位）：{h.check_url} ，"
        "也可扫描二维码；或联系所在学习中心。",
    ]


HEADERS = ("序号", "学号", "姓名", "身份证号", "照片状态", "上报日期", "自助核对", "学习中心", "班级")


def _cells(i: int, r: ConfirmRow) -> list[str]:
    return [str(i), r.xh, r.name, r.id_masked, r.status, r.batch_date, r.self_check, r.centre, r.class_name]


# ------------------------------------------------------------------------------ XLSX
def confirm_xlsx(h: ConfirmHeader, rows: Sequence[ConfirmRow], *, thumbnails: bool = False) -> bytes:
    """One sheet: title, header block, then a table whose first data row is ``table_start``
    (see :func:`xlsx_table_start`)."""
    from openpyxl.styles import Alignment, Font  # noqa: PLC0415

    wb = new_workbook()
    ws = wb.active
    ws.title = "核对名单"
    preamble = _preamble(h)
    for i, line in enumerate(preamble, start=1):
        put_row(ws, i, [line])
        ws.cell(i, 1).alignment = Alignment(wrap_text=False)
    ws.cell(1, 1).font = Font(bold=True, size=14)
    head_row = len(preamble) + 2
    headers = list(HEADERS) + (["照片"] if thumbnails else [])
    put_row(ws, head_row, headers)
    for c in ws[head_row]:
        c.font = Font(bold=True)
    ws.freeze_panes = ws.cell(row=head_row + 1, column=1)
    for j, w in enumerate((6, 16, 10, 22, 12, 12, 10, 16, 16, 10), start=1):
        ws.column_dimensions[chr(64 + j)].width = w
    for i, r in enumerate(rows, start=1):
        rr = head_row + i
        put_row(ws, rr, _cells(i, r), text_cols=(2, 4))
        if thumbnails and r.thumbnail:
            from openpyxl.drawing.image import Image as XLImage  # noqa: PLC0415

            img = XLImage(io.BytesIO(r.thumbnail))
            img.width, img.height = 45, 60
            ws.add_image(img, f"J{rr}")
            ws.row_dimensions[rr].height = 48
    return workbook_bytes(wb, FIXED_DATETIME)


def _preamble(h: ConfirmHeader) -> list[str]:
    return [f"{h.school} {TITLE}", f"{h.term_code} {h.term_name} / {h.scope}", *instructions(h),
            f"生成时间：{h.generated_at}"]


def xlsx_table_start(h: ConfirmHeader) -> int:
    """Row number of the table's header row in :func:`confirm_xlsx`'s sheet."""
    return len(_preamble(h)) + 2


# ------------------------------------------------------------------------------- PDF
def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics  # noqa: PLC0415
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # noqa: PLC0415

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def qr_drawing(url: str, size: float):
    from reportlab.graphics.barcode.qr import QrCodeWidget  # noqa: PLC0415
    from reportlab.graphics.shapes import Drawing  # noqa: PLC0415

    w = QrCodeWidget(url, barLevel="M")
    x0, y0, x1, y1 = w.getBounds()
    d = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    d.add(w)
    return d


def confirm_pdf(h: ConfirmHeader, rows: Sequence[ConfirmRow], *, thumbnails: bool = False) -> bytes:
    """A4 portrait; the table's header row repeats on every page; page numbers below."""
    from reportlab.lib import colors  # noqa: PLC0415
    from reportlab.lib.pagesizes import A4  # noqa: PLC0415
    from reportlab.lib.styles import ParagraphStyle  # noqa: PLC0415
    from reportlab.lib.units import mm  # noqa: PLC0415
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle  # noqa: PLC0415

    _register_font()
    base = ParagraphStyle("cn", fontName=FONT, fontSize=9.5, leading=13.5, wordWrap="CJK")
    title = ParagraphStyle("cn-title", parent=base, fontSize=16, leading=22, spaceAfter=2)
    sub = ParagraphStyle("cn-sub", parent=base, fontSize=11, leading=15)
    cell = ParagraphStyle("cn-cell", parent=base, fontSize=8.5, leading=11)

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm, topMargin=14 * mm,
                            bottomMargin=16 * mm, title=f"{TITLE} {h.term_code} {h.scope}", author=h.school,
                            subject=TITLE, creator="kiosk", invariant=1)

    def page_footer(canvas, document):
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.drawString(14 * mm, 9 * mm, f"{h.school}　{h.term_code}　{h.scope}　生成时间 {h.generated_at}")
        canvas.drawRightString(A4[0] - 14 * mm, 9 * mm, f"第 {document.page} 页")
        canvas.restoreState()

    text_block = [Paragraph(f"{h.school}　{TITLE}", title),
                  Paragraph(f"{h.term_code}　{h.term_name}　／　{h.scope}", sub), Spacer(1, 3 * mm)]
    text_block += [Paragraph(line, base) for line in instructions(h)]
    qr = qr_drawing(h.check_url, 30 * mm)
    qr_cell = [qr, Paragraph("扫码报告照片问题", ParagraphStyle("qrc", parent=cell, alignment=1))]
    head = Table([[text_block, qr_cell]], colWidths=[doc.width - 36 * mm, 36 * mm])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (1, 0), (1, 0), "CENTER"),
                              ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor("#1565c0")),
                              ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f3f8fe")),
                              ("LEFTPADDING", (0, 0), (-1, -1), 6), ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                              ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))

    headers = ["序号", "学号", "姓名", "身份证号", "照片状态", "上报日期", "自助核对", "学习中心", "班级"]
    widths = [8, 25, 15, 30, 17, 19, 17, 0, 0]
    if thumbnails:
        headers.append("照片")
        widths.append(13)
    widths_pt = [w * mm for w in widths]
    rest = doc.width - sum(widths_pt)                   # 学习中心 and 班级 share what is left
    widths_pt[7] = widths_pt[8] = rest / 2
    data = [[Paragraph(x, cell) for x in headers]]
    for i, r in enumerate(rows, start=1):
        line = [Paragraph(x, cell) for x in (str(i), r.xh, r.name, r.id_masked, r.status, r.batch_date,
                                             r.self_check, r.centre, r.class_name)]
        if thumbnails:
            line.append(Image(io.BytesIO(r.thumbnail), width=11 * mm, height=14.6 * mm)
                        if r.thumbnail else "")
        data.append(line)
    if not rows:
        data.append([Paragraph("（没有学生）", cell)] + [""] * (len(headers) - 1))
    table = Table(data, colWidths=widths_pt, repeatRows=1)
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9aa7b4")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e3eaf2")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f7f9fb")]),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]))
    doc.build([head, Spacer(1, 5 * mm), table], onFirstPage=page_footer, onLaterPages=page_footer)
    return buf.getvalue()


def thumbnail(jpeg: bytes, width: int = 120) -> bytes:
    """A small JPEG of a photo for the list (3:4, ``width`` pixels wide)."""
    from PIL import Image  # noqa: PLC0415

    with Image.open(io.BytesIO(jpeg)) as im:
        im = im.convert("RGB")
        im.thumbnail((width, width * 4 // 3))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=80)
        return out.getvalue()
