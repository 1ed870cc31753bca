"""Matching file names to students: 学号, 身份证号 (auto-detected), manifests, and why not."""
from __future__ import annotations

import io

import pytest

from kiosk.idcard import make_valid
from kiosk.models import Student
from kiosk.services import terms
from kiosk.services.intake_match import Matcher, read_manifest, sniff, tokens

from .factories import setup_term
from .rosterdata import id_number


@pytest.fixture
def roster(session):
    term, centre, st = setup_term(session, n=4)
    other = terms.ensure_term(session, "2027-01")
    old = Student(term_id=other.id, xh="2050001000001", name="往届", id_number=id_number(500))
    session.add(old)
    session.flush()
    return term, st, old


def test_tokens():
    assert tokens("照片/张三_2061001000001.JPG") == ["张三_2061001000001", "2061001000001"]
    assert tokens("2061001000001 (1).jpg")[:2] == ["2061001000001 (1)", "2061001000001"]
    assert tokens("a-b_c.jpeg") == ["a-b_c", "a", "b", "c"]


def test_auto_detects_xh_and_id_per_file(session, roster):
    term, st, _ = roster
    m = Matcher(session, term)
    assert (m.match(f"{st[0].xh}.jpg").student_id, m.match(f"{st[0].xh}.jpg").key_kind) == (st[0].id, "xh")
    hit = m.match(f"李四_{st[1].id_number}.JPG")
    assert (hit.student_id, hit.key_kind) == (st[1].id, "sfzh")
    lower_x = st[1].id_number  # IDs with X are matched case-insensitively
    assert m.match(lower_x.lower() + ".jpg").student_id == st[1].id
    # Both keys in one name must agree.
    both = m.match(f"{st[0].xh}_{st[2].id_number}.jpg")
    assert not both.ok and both.code == "ambiguous_key" and st[2].id_number not in both.message_zh


def test_key_mode_restricts_matching(session, roster):
    term, st, _ = roster
    assert not Matcher(session, term, "xh").match(f"{st[1].id_number}.jpg").ok
    assert "身份证号" in Matcher(session, term, "xh").match(f"{st[1].id_number}.jpg").message_zh
    assert not Matcher(session, term, "sfzh").match(f"{st[0].xh}.jpg").ok
    assert Matcher(session, term, "sfzh").match(f"{st[1].id_number}.jpg").student_id == st[1].id


def test_reasons_for_unmatched_names(session, roster):
    term, st, old = roster
    m = Matcher(session, term)
    r = m.match(f"{old.xh}.jpg")
    assert r.code == "not_in_term" and "2027-01" in r.message_zh
    r = m.match(f"{old.id_number}.jpg")
    assert r.code == "not_in_term" and old.id_number not in r.message_zh and old.id_number[-4:] in r.message_zh
    bad = st[0].id_number[:17] + ("0" if st[0].id_number[17] != "0" else "1")
    r = m.match(f"{bad}.jpg")
    assert r.code == "invalid_id" and "校验位" in r.message_zh
    stranger = make_valid("11010519800101001")
    assert m.match(f"{stranger}.jpg").code == "unknown_key"
    assert m.match("IMG_0001.jpg").code == "unknown_key"


def test_manifest_xlsx_keeps_leading_zeros_and_codes(session, roster):
    import openpyxl

    term, st, _ = roster
    s0 = st[0]
    s0.xh = "0061001000001"
    session.flush()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["照片文件名", "学号", "图像采集码"])
    ws.append(["DSC_1.jpg", "0061001000001", "QR:abc=="])
    ws.append(["dir\\DSC_2.jpg", None, None])
    ws.append(["DSC_1.jpg", st[1].xh, None])
    buf = io.BytesIO()
    wb.save(buf)
    man = read_manifest(buf.getvalue(), "m.xlsx")
    assert [i["code"] for i in man.issues] == ["manifest_no_key", "manifest_duplicate"]
    m = Matcher(session, term, manifest=man)
    hit = m.match("photos/DSC_1.JPG")
    assert (hit.student_id, hit.key_kind, hit.collect_code) == (s0.id, "manifest", "QR:abc==")
    assert m.match(f"{st[2].xh}.jpg").key_kind == "xh"          # not in the manifest: by its name


def test_sniff():
    assert sniff(b"\xff\xd8\xff\xe0") == "jpeg" and sniff(b"\x89PNG\r\n\x1a\n") == "png"
    assert sniff(b"\x00\x00\x00\x18ftypheic") == "heif" and sniff(b"hello") is None


def test_withdrawn_student_is_named_but_not_matched(session, roster):
    from kiosk.services import sync

    term, st, _ = roster
    sync.withdraw_student(session, st[1], actor="admin", reason="转期")
    m = Matcher(session, term)
    for name in (f"{st[1].xh}.jpg", f"张三_{st[1].id_number}.JPG"):
        r = m.match(name)
        assert not r.ok and r.code == "withdrawn" and r.xh == st[1].xh, name
        assert r.message_zh == f"学生已从本期名单撤销（学号 {st[1].xh}），未导入" and st[1].id_number not in r.message_zh
    manifest = read_manifest(f"文件名,学号,采集码\nIMG_1.jpg,{st[1].xh},CODE-1\n".encode(), "m.csv")
    r = Matcher(session, term, manifest=manifest).match("IMG_1.jpg")
    assert (r.ok, r.code, r.key_kind, r.collect_code) == (False, "withdrawn", "manifest", None)
    assert m.match(f"{st[0].xh}.jpg").student_id == st[0].id          # the others as before
