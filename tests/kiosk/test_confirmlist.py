"""Confirmation lists: Chinese PDF (font, text, a rendered page) and XLSX rows."""
from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner
from PIL import Image
from pypdf import PdfReader

from kiosk.cli import main as cli
from kiosk.db import get_db
from kiosk.idcard import mask
from kiosk.models import Confirmation
from kiosk.services import batches, confirmlist, photos, sync
from tests.browser import ARTIFACTS
from tests.conftest import require_or_skip
from upload.confirmlist import HEADERS, xlsx_table_start

from .conftest import make_app
from .factories import add_photo, setup_term


@pytest.fixture
def term_with_photos(app, session, tmp_path):
    store = app.extensions["kiosk_store"]
    term, centre, studs = setup_term(session, n=4)
    _, _, others = setup_term(session, n=2, centre="渭滨学习中心", branch="宝鸡分部", start=10)
    studs[3].class_name = "会计2024春"
    term.confirm_deadline = dt.date(2027, 6, 20)
    for st in studs[:2] + others[:1]:
        st.collect_code = "CODE-" + st.xh
        photos.approve(session, add_photo(session, store, st), "test")
    add_photo(session, store, studs[2], "warn")            # captured, not approved
    session.flush()
    batches.build_batch(session, store, term, out_dir=tmp_path / "out", actor="test", commit=session.commit)
    p = photos.approved_photo(session, studs[0].id)
    session.add(Confirmation(student_id=studs[0].id, photo_id=p.id, result="correct"))
    session.commit()
    return term, centre, studs, others


def test_pdf_is_chinese_with_the_expected_rows(app, session, term_with_photos):
    term, centre, studs, others = term_with_photos
    data, name = confirmlist.build(session, app.extensions["kiosk_store"], term, "pdf",
                                   base_url="https://photo.example.edu.cn/", school="测试开放大学", unit=centre,
                                   thumbnails=True, actor="test")
    assert name.endswith(".pdf") and data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(data))
    page = reader.pages[0]
    assert abs(float(page.mediabox.width) - 595.3) < 1 and abs(float(page.mediabox.height) - 841.9) < 1   # A4
    fonts = {str(f["/BaseFont"]) for f in page["/Resources"]["/Font"].values()}
    assert any("STSong-Light" in f for f in fonts), fonts
    text = "".join(p.extract_text() for p in reader.pages)
    flat = text.replace(" ", "").replace("\n", "")
    for s in ["毕业生学历照片核对名单", "学信档案", "学籍", "学历照片", "正确", "有误", "2027年6月20日",
              "https://photo.example.edu.cn/check"]:
        assert s in flat, s
    for st in studs:
        assert st.xh in flat and st.name in flat and mask(st.id_number) in flat
        assert st.id_number not in flat                       # never the full 身份证号
    for st in others:
        assert st.xh not in flat                              # another centre's students are not on it
    assert "已通过" in flat and "已采集" in flat and "无照片" in flat


def test_pdf_page_renders_to_an_image(app, session, term_with_photos, tmp_path):
    if not shutil.which("pdftoppm"):
        require_or_skip("pdftoppm (Debian poppler-utils) is not installed")
    term, *_ = term_with_photos
    data, _ = confirmlist.build(session, app.extensions["kiosk_store"], term, "pdf",
                                base_url="http://127.0.0.1:5000", school="测试开放大学", thumbnails=True)
    pdf = tmp_path / "list.pdf"
    pdf.write_bytes(data)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    prefix = ARTIFACTS / "confirm-list"
    r = subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Couldn't find a font" not in r.stderr or "STSong" not in r.stderr, r.stderr
    with Image.open(f"{prefix}.png") as im:
        g = im.convert("L")
        assert g.size[0] > 400
        # Ink in the title area: the Chinese title was drawn (not an empty page).
        dark = int((np.asarray(g.crop((0, 0, g.size[0], g.size[1] // 6))) < 128).sum())
        assert dark > 500


def test_xlsx_has_the_expected_rows(app, session, term_with_photos):
    term, centre, studs, _ = term_with_photos
    data, name = confirmlist.build(session, app.extensions["kiosk_store"], term, "xlsx", base_url="http://x.test",
                                   school="测试开放大学", unit=centre, class_name="行管2024秋")
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    start = xlsx_table_start(confirmlist.ConfirmHeader("", "", "", "", "", "", ""))
    assert [c.value for c in ws[start]][:len(HEADERS)] == list(HEADERS)
    body = [[c.value for c in row][:len(HEADERS)] for row in ws.iter_rows(min_row=start + 1)]
    assert [r[1] for r in body] == [s.xh for s in studs[:3]]           # 会计 class left out
    assert body[0][2:7] == [studs[0].name, mask(studs[0].id_number), "已通过", dt.date.today().isoformat(),
                            "正确"]
    assert body[2][4:6] == ["已采集", None]
    header_text = " ".join(str(ws.cell(r, 1).value) for r in range(1, start))
    assert "学信档案" in header_text and "http://x.test/check" in header_text and "2027年6月20日" in header_text


def test_withdrawn_students_are_left_off_the_list(app, session, tmp_path):
    """Three students with approved photos, one withdrawn: two rows, in the XLSX and the
    PDF, and in a list of the withdrawn student's class; the audit entry counts two."""
    from sqlalchemy import select

    from kiosk.models import AuditEntry

    store = app.extensions["kiosk_store"]
    term, centre, studs = setup_term(session, n=3)
    for st in studs:
        photos.approve(session, add_photo(session, store, st), "test")
    sync.withdraw_student(session, studs[1], actor="test", reason="退学")
    session.commit()
    assert [r.xh for r in confirmlist.gather(session, store, term)] == [studs[0].xh, studs[2].xh]
    assert [r.xh for r in confirmlist.gather(session, store, term, unit=centre, class_name="行管2024秋")] == \
        [studs[0].xh, studs[2].xh]
    data, _ = confirmlist.build(session, store, term, "xlsx", base_url="http://x.test", actor="test")
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    start = xlsx_table_start(confirmlist.ConfirmHeader("", "", "", "", "", "", ""))
    assert [row[1] for row in ws.iter_rows(min_row=start + 1, values_only=True)] == [studs[0].xh, studs[2].xh]
    data, _ = confirmlist.build(session, store, term, "pdf", base_url="http://x.test", actor="test")
    flat = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).replace(" ", "").replace("\n", "")
    assert studs[0].xh in flat and studs[2].xh in flat and studs[1].xh not in flat and mask(studs[1].id_number) not in flat
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "confirmlist.export")).all()
    assert [e.detail["students"] for e in entries] == [2, 2]


def test_missing_base_url_and_bad_format_are_clear(app, session, term_with_photos):
    term, *_ = term_with_photos
    with pytest.raises(confirmlist.ConfirmListError) as e:
        confirmlist.build(session, None, term, "pdf", base_url=None)
    assert e.value.code == "base_url"
    with pytest.raises(confirmlist.ConfirmListError) as e:
        confirmlist.build(session, None, term, "docx", base_url="http://x")
    assert e.value.code == "format"


def test_cli_confirm_list(db_backend, tmp_path, monkeypatch):
    app = make_app(tmp_path)
    with get_db(app).session() as s:
        setup_term(s, n=2)
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    out = tmp_path / "名单.xlsx"
    r = CliRunner().invoke(cli, ["confirm-list", "--term", "2027-07", "--unit", "雁塔学习中心", "--format", "xlsx",
                                 "--out", str(out), "--base-url", "https://p.example"])
    assert r.exit_code == 0, r.output
    assert openpyxl.load_workbook(out).active.max_row >= 11
    r = CliRunner().invoke(cli, ["confirm-list", "--term", "2027-07", "--out", str(tmp_path / "a.pdf")])
    assert r.exit_code == 2 and "PUBLIC_BASE_URL" in r.output
    r = CliRunner().invoke(cli, ["confirm-list", "--term", "2027-07", "--unit", "不存在", "--out", str(out)])
    assert r.exit_code == 2 and "找不到分部/学习中心" in r.output


def test_cli_coverage_show_and_export(db_backend, tmp_path, monkeypatch):
    import json

    app = make_app(tmp_path)
    with get_db(app).session() as s:
        _, _, studs = setup_term(s, n=3)
        photos.approve(s, add_photo(s, app.extensions["kiosk_store"], studs[0]), "test")
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    r = CliRunner().invoke(cli, ["coverage", "show", "--term", "2027-07", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert (out["expected"], out["captured"], out["approved"], out["in_batch"]) == (3, 1, 1, 0)
    assert out["withdrawn"] == 0
    assert out["review_start"] == "2027-08-01" and out["by_centre"][0]["centre"] == "西安分部 / 雁塔学习中心"
    r = CliRunner().invoke(cli, ["coverage", "show", "--term", "2027-07"])
    assert r.exit_code == 0 and "已撤销" not in r.output
    f = tmp_path / "missing.xlsx"
    r = CliRunner().invoke(cli, ["coverage", "export", "--term", "2027-07", "--out", str(f)])
    assert r.exit_code == 0 and "2 人" in r.output
    ws = openpyxl.load_workbook(f).active
    assert [row[0] for row in ws.iter_rows(min_row=2, values_only=True)] == [studs[1].xh, studs[2].xh]
    # One with the approved photo and one missing it are withdrawn: neither is expected nor missing.
    with get_db(app).session() as s:
        for st in (studs[0], studs[2]):
            sync.withdraw_student(s, s.merge(st), actor="test", reason="转期")
    r = CliRunner().invoke(cli, ["coverage", "show", "--term", "2027-07", "--json"])
    out = json.loads(r.output)
    assert (out["expected"], out["captured"], out["approved"], out["withdrawn"]) == (1, 0, 0, 2)
    assert [(c["expected"], c["withdrawn"]) for c in out["by_centre"]] == [(1, 2)]
    r = CliRunner().invoke(cli, ["coverage", "show", "--term", "2027-07"])
    assert r.exit_code == 0 and "已撤销 2 人（不计入应到人数）" in r.output
    r = CliRunner().invoke(cli, ["coverage", "export", "--term", "2027-07", "--out", str(f)])
    assert r.exit_code == 0 and "1 人" in r.output
    ws = openpyxl.load_workbook(f).active
    assert [row[0] for row in ws.iter_rows(min_row=2, values_only=True)] == [studs[1].xh]
