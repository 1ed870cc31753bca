"""Roster import: encodings, Excel quirks, validation, idempotence, dry run, CLI."""
from __future__ import annotations

import io
import json

import openpyxl
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from kiosk.cli import main as cli
from kiosk.idcard import make_valid
from kiosk.models import AuditEntry, OrgUnit, Student
from kiosk.services import roster, terms

from .rosterdata import HEADER, csv_bytes, id_number, person, rows


@pytest.fixture
def term(session):
    t = terms.ensure_term(session, "2027-07")
    session.commit()
    return t


def students(session, term):
    return {s.xh: s for s in session.scalars(select(Student).where(Student.term_id == term.id))}


def do_import(session, term, data, name="roster.csv", **kw):
    rep = roster.import_roster(session, term, data, name, actor="test", **kw)
    if kw.get("dry_run") or rep.fatal:
        session.rollback()
    else:
        session.commit()
    return rep


def test_gbk_csv_with_chinese_headers(session, term):
    body = rows(3, centre="碑林学习中心")
    rep = do_import(session, term, csv_bytes(HEADER, body, "gbk"))
    assert rep.fatal is None and rep.created == 3 and not rep.errors
    got = students(session, term)
    assert got["0061001000001"].name == "学生1"
    assert got["0061001000001"].centre.name == "碑林学习中心"
    assert got["0061001000001"].centre.parent.kind == "branch"


def test_utf8_bom_csv_keeps_leading_zeros_and_dates(session, term):
    rep = do_import(session, term, b"\xef\xbb\xbf" + csv_bytes(HEADER, rows(2)))
    assert rep.created == 2
    s = students(session, term)["0061001000000"]
    assert s.xh.startswith("00")
    assert s.enrol_date.isoformat() == "2024-09-01"
    assert s.expected_grad_date.isoformat() == "2027-07-01"
    assert s.gender == "男" and s.level == "本科" and s.major == "行政管理"


def test_english_aliases_and_semicolons(session, term):
    header = ["student_no", "name", "sex", "id_number", "level", "major", "centre", "class", "enrol_date", "grad_date"]
    data = "\n".join(";".join(r) for r in [header] + rows(2)).encode()
    rep = do_import(session, term, data)
    assert rep.created == 2, [i.line() for i in rep.issues]


def _xlsx(header, body, xh_numeric_rows=(), xh_format=None) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for i, r in enumerate(body):
        ws.append(r)
        if i in xh_numeric_rows:
            c = ws.cell(row=i + 2, column=1)
            c.value = int(r[0])
            if xh_format:
                c.number_format = xh_format
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_xlsx_numeric_xh_with_zero_format_keeps_leading_zeros(session, term):
    body = rows(3)
    data = _xlsx(HEADER, body, xh_numeric_rows=(0, 1, 2), xh_format="0000000000000")
    rep = do_import(session, term, data, "roster.xlsx")
    assert rep.created == 3 and not rep.warnings
    assert set(students(session, term)) == {r[0] for r in body}


def test_xlsx_numeric_xh_in_general_format_is_restored_from_file_length(session, term):
    body = rows(5)
    data = _xlsx(HEADER, body, xh_numeric_rows=(1, 3))  # two cells lost their zeros
    rep = do_import(session, term, data, "roster.xlsx")
    assert rep.created == 5
    assert set(students(session, term)) == {r[0] for r in body}
    restored = [i for i in rep.warnings if i.code == "xh_zero_restored"]
    assert [i.row for i in restored] == [3, 5]
    assert "补回前导零" in restored[0].message_zh


def test_xlsx_id_number_stored_as_number_is_reported(session, term):
    body = rows(2)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(body[0])
    bad = list(body[1])
    bad[3] = float(bad[3][:17])  # what Excel does to an 18-digit number
    ws.append(bad)
    buf = io.BytesIO()
    wb.save(buf)
    rep = do_import(session, term, buf.getvalue(), "r.xlsx")
    assert rep.created == 1
    assert [(i.row, i.column, i.code) for i in rep.errors] == [(3, "身份证号", "id_number_numeric")]


def test_bad_check_digit_rejects_row_and_keeps_others(session, term):
    body = rows(4)
    idn = body[2][3]
    body[2][3] = idn[:17] + ("0" if idn[17] != "0" else "1")
    rep = do_import(session, term, csv_bytes(HEADER, body))
    assert rep.created == 3 and rep.rejected == 1
    (err,) = rep.errors
    assert err.row == 4 and err.column == "身份证号" and err.code == "id_check_digit"
    assert "校验位错误" in err.message_zh and "第 4 行" in err.line()
    assert body[2][0] not in students(session, term)


def test_values_longer_than_their_column_reject_the_row_on_every_database(session, term):
    """SQLite stores a too-long text silently; PostgreSQL refuses it and would fail the
    whole import.  Each such row is rejected with the column, its length and the limit."""
    body = rows(5)
    body[1][5] = "行政管理" * 30                 # 专业: 120 characters, limit 100
    body[2][1] = "名" * 65                       # 姓名: limit 64
    body[3][6] = "雁塔" * 60                     # 学习中心: limit 100
    rep = do_import(session, term, csv_bytes(HEADER, body))
    assert rep.created == 2 and rep.rejected == 3
    errs = {e.row: e for e in rep.errors}
    assert (errs[3].column, errs[3].code) == ("专业", "too_long") and "120" in errs[3].message_zh \
        and "100" in errs[3].message_zh
    assert (errs[4].column, errs[4].code) == ("姓名", "too_long")
    assert (errs[5].column, errs[5].code) == ("学习中心", "too_long")
    assert sorted(students(session, term)) == sorted([body[0][0], body[4][0]])


def test_duplicate_rows_in_file_reported_first_kept(session, term):
    body = rows(3)
    dup_xh = list(body[0])
    dup_xh[3] = id_number(500)
    dup_id = person(7)
    dup_id[3] = body[1][3]
    rep = do_import(session, term, csv_bytes(HEADER, body + [dup_xh, dup_id]))
    assert rep.created == 3
    codes = {(i.row, i.code) for i in rep.errors}
    assert codes == {(5, "duplicate_xh"), (6, "duplicate_id")}
    assert "与第 2 行重复" in next(i.message_zh for i in rep.errors if i.code == "duplicate_xh")


def test_id_number_taken_by_another_student_of_the_term(session, term):
    do_import(session, term, csv_bytes(HEADER, rows(2)))
    other = person(9)
    other[3] = rows(2)[0][3]
    rep = do_import(session, term, csv_bytes(HEADER, [other]))
    assert rep.created == 0 and [i.code for i in rep.errors] == ["id_taken"]


def test_missing_columns_is_fatal_and_names_them(session, term):
    data = csv_bytes(["学号", "姓名", "专业"], [["001", "张三", "会计"]])
    rep = do_import(session, term, data)
    assert rep.fatal is not None and rep.fatal.code == "missing_columns"
    assert "身份证号" in rep.fatal.message_zh
    assert students(session, term) == {}


def test_empty_file(session, term):
    rep = do_import(session, term, b"")
    assert rep.fatal.code == "empty" and "为空" in rep.fatal.message_zh
    rep = do_import(session, term, b"\r\n\r\n")
    assert rep.fatal.code == "empty"


def test_binary_file_renamed_csv(session, term):
    import random

    rng = random.Random(1)
    junk = bytes(rng.randrange(256) for _ in range(4000))
    rep = do_import(session, term, b"\x89PNG\r\n\x1a\n\x00\x00" + junk)
    assert rep.fatal is not None and rep.fatal.code == "binary"
    rep = do_import(session, term, junk.replace(b"\x00", b"\x01"))
    assert rep.fatal is not None and rep.fatal.code in ("binary", "encoding")


def test_old_xls_is_refused_clearly(session, term):
    rep = do_import(session, term, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "r.xls")
    assert rep.fatal.code == "xls" and ".xlsx" in rep.fatal.message_zh


def test_reimport_same_file_changes_nothing(session, term):
    data = csv_bytes(HEADER, rows(5))
    first = do_import(session, term, data)
    before = {k: (v.updated_at, v.name) for k, v in students(session, term).items()}
    again = do_import(session, term, data)
    assert (first.created, again.created, again.updated, again.unchanged) == (5, 0, 0, 5)
    session.expire_all()
    assert {k: (v.updated_at, v.name) for k, v in students(session, term).items()} == before


def test_updated_file_updates_changed_rows_and_reports_them(session, term):
    body = rows(4)
    do_import(session, term, csv_bytes(HEADER, body))
    body[1][5] = "会计"
    body[3][7] = "行管2025春"
    body.append(person(10))
    rep = do_import(session, term, csv_bytes(HEADER, body))
    assert (rep.created, rep.updated, rep.unchanged) == (1, 2, 2)
    assert {(c["xh"], c["field"], c["old"], c["new"]) for c in rep.changes} == {
        (body[1][0], "专业", "行政管理", "会计"), (body[3][0], "班级", "行管2024秋", "行管2025春")}
    assert students(session, term)[body[1][0]].major == "会计"


def test_dry_run_writes_nothing(session, term):
    rep = do_import(session, term, csv_bytes(HEADER, rows(3)), dry_run=True)
    assert rep.created == 3 and rep.dry_run
    assert students(session, term) == {}
    assert session.scalar(select(func.count(OrgUnit.id))) == 0


def test_import_is_audited(session, term):
    do_import(session, term, csv_bytes(HEADER, rows(2)))
    e = session.scalar(select(AuditEntry).where(AuditEntry.action == "roster.import"))
    assert e.actor == "test" and e.detail["created"] == 2 and len(e.detail["sha256"]) == 64


def test_gender_and_bad_dates_are_warnings_not_errors(session, term):
    body = rows(2)
    body[0][2] = "女"                 # id says 男
    body[1][8] = "去年秋天"            # not a date
    rep = do_import(session, term, csv_bytes(HEADER, body))
    assert rep.created == 2 and not rep.errors
    assert {(i.row, i.code) for i in rep.warnings} == {(2, "gender_mismatch"), (3, "date")}


def test_legacy_15_digit_id_imported_with_warning(session, term):
    body = rows(1)
    body[0][3] = "610113900101123"
    rep = do_import(session, term, csv_bytes(HEADER, body))
    assert rep.created == 1 and [i.code for i in rep.warnings] == ["id_legacy15"]
    assert students(session, term)[body[0][0]].id_legacy


# ----------------------------------------------------------------------- CLI
@pytest.fixture
def cli_env(db_backend, tmp_path, monkeypatch):
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "inst"))
    monkeypatch.setenv("KIOSK_SECRET_KEY", "x")
    return tmp_path


def test_cli_roster_import_reports_lines_and_exit_codes(cli_env):
    body = rows(3)
    body[1][3] = body[1][3][:17] + ("0" if body[1][3][17] != "0" else "1")
    f = cli_env / "名单.csv"
    f.write_bytes(csv_bytes(HEADER, body, "gbk"))
    r = CliRunner().invoke(cli, ["roster", "import", str(f), "--term", "2027-07"])
    assert r.exit_code == 1, r.output
    assert "新增 2" in r.output and "拒绝 1" in r.output
    assert "第 3 行［身份证号］" in r.output

    r = CliRunner().invoke(cli, ["roster", "import", str(f), "--term", "2027-07", "--json"])
    out = json.loads(r.output)
    assert out["created"] == 0 and out["unchanged"] == 2 and out["issues"][0]["row"] == 3


def test_cli_dry_run_and_fatal(cli_env):
    f = cli_env / "r.csv"
    f.write_bytes(csv_bytes(HEADER, rows(2)))
    r = CliRunner().invoke(cli, ["roster", "import", str(f), "--term", "2027-07", "--dry-run"])
    assert r.exit_code == 0 and "试运行" in r.output and "新增 2" in r.output
    r = CliRunner().invoke(cli, ["roster", "import", str(f), "--term", "2027-07"])
    assert "新增 2" in r.output  # the dry run wrote nothing
    empty = cli_env / "empty.csv"
    empty.write_bytes(b"")
    r = CliRunner().invoke(cli, ["roster", "import", str(empty), "--term", "2027-07"])
    assert r.exit_code == 2 and "文件为空" in r.output
    r = CliRunner().invoke(cli, ["roster", "import", str(cli_env / "nope.csv"), "--term", "2027-07"])
    assert r.exit_code == 2
    r = CliRunner().invoke(cli, ["roster", "import", str(f), "--term", "2027-05"])
    assert r.exit_code == 2 and "2027-07" in r.output


def test_valid_generator_ids():
    assert all(len(r[3]) == 18 for r in rows(5))
    assert make_valid("11010519491231002") == "11010519491231002X"


def test_reimport_keeps_a_withdrawn_student_withdrawn_and_says_so(session, term):
    """A withdrawal is an admin's decision: the next roster file updates the row but does
    not put the student back; the report names him as a warning."""
    from kiosk.services import sync

    body = rows(3)
    do_import(session, term, csv_bytes(HEADER, body))
    gone = students(session, term)["0061001000001"]
    sync.withdraw_student(session, gone, actor="test", reason="延期毕业")
    session.commit()
    body[1] = list(body[1])
    body[1][HEADER.index("专业")] = "法学"
    rep = do_import(session, term, csv_bytes(HEADER, body))
    assert rep.updated == 1 and not rep.errors
    (w,) = rep.warnings
    assert (w.row, w.code) == (3, "withdrawn") and "0061001000001" in w.message_zh and "恢复" in w.message_zh
    again = students(session, term)["0061001000001"]
    assert again.withdrawn_at is not None and again.major == "法学"
