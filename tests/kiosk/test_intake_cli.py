"""``kiosk intake``: one JSON object on stdout, progress on stderr, exit codes 0 / 1 / 2."""
from __future__ import annotations

import json

import openpyxl
import pytest
from click.testing import CliRunner

from kiosk.cli import main as cli
from kiosk.db import get_db

from . import intakedata as data
from .conftest import make_app
from .factories import setup_term


@pytest.fixture
def inst(db_backend, tmp_path, monkeypatch, corpus_dir):
    """An instance with a term of 6 students; the CLI uses the same instance."""
    monkeypatch.setenv("KIOSK_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("KIOSK_JOBS_WORKERS", "0")
    app = make_app(tmp_path)
    s = get_db(app).sessionmaker()
    term, _, st = setup_term(s, n=6)
    s.commit()
    xh = [x.xh for x in st]
    s.close()
    return tmp_path, xh


def test_json_report_and_exit_1_when_files_need_fixing(inst):
    tmp, xh = inst
    z = data.make_zip(tmp / "u.zip", [(f"{xh[0]}.jpg", data.spec_photo(1)), (f"{xh[1]}.jpg", data.spec_photo(1, "fail")),
                                      ("unknown.jpg", data.spec_photo(2)), ("../evil.jpg", b"x")])
    r = CliRunner().invoke(cli, ["intake", str(z), "--term", "2027-07", "--unit", "新华社", "--json",
                                 "--report", str(tmp / "out" / "r.xlsx")])
    assert r.exit_code == 1, r.output
    out = json.loads(r.stdout)                               # stdout is exactly one JSON object
    assert [(f["name"], f["xh"], f["outcome"]) for f in out["files"]] == [
        (f"{xh[0]}.jpg", xh[0], "approved"), (f"{xh[1]}.jpg", xh[1], "rejected"), ("unknown.jpg", None, "unmatched"),
        ("../evil.jpg", None, "skipped")]
    assert out["files"][1]["reasons"][0]["check"] == "eye_line" and out["files"][1]["reasons"][0]["message_zh"]
    assert out["files"][3]["reasons"] == [{"code": "unsafe_path", "message_zh": "路径不安全（含 .. 或绝对路径），已拒绝"}]
    assert out["summary"] == {"approved": 1, "review": 0, "rejected": 1, "pending": 0, "unmatched": 1, "skipped": 1,
                              "error": 0}
    assert out["missing"] == xh[1:]
    assert "检查照片" in r.stderr                              # progress went to stderr
    wb = openpyxl.load_workbook(tmp / "out" / "r.xlsx")
    assert wb["逐个文件"].max_row == 5 and wb["缺照片学生"].max_row == 6


def test_folder_all_good_exits_0_and_writes_csv(inst):
    tmp, xh = inst
    folder = tmp / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / f"{xh[0]}.jpg").write_bytes(data.spec_photo(1))
    (folder / "sub" / f"{xh[1]}.jpg").write_bytes(data.spec_photo(2))
    (folder / "Thumbs.db").write_bytes(b"junk")
    (folder / f"{xh[2]}.jpg").symlink_to(folder.parent / "elsewhere.jpg")     # never followed
    (folder.parent / "elsewhere.jpg").write_bytes(data.spec_photo(3))
    r = CliRunner().invoke(cli, ["intake", str(folder), "--term", "2027-07", "--unit", "新华社", "--report",
                                 str(tmp / "r.csv"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "已通过 2" in r.stdout and "已跳过 2" in r.stdout and "仍缺合格照片的学生：4 人" in r.stdout
    assert "符号链接" in r.stdout
    text = (tmp / "r.csv").read_bytes()
    assert text.startswith(b"\xef\xbb\xbf") and "已通过" in text.decode("utf-8-sig")
    assert (tmp / "r-missing.csv").read_bytes().decode("utf-8-sig").count("\n") == 5


def test_unreadable_archive_exits_2(inst):
    tmp, _ = inst
    fake = tmp / "fake.zip"
    fake.write_text("not a zip at all")
    r = CliRunner().invoke(cli, ["intake", str(fake), "--term", "2027-07", "--unit", "新华社", "--json"])
    assert r.exit_code == 2
    assert json.loads(r.stdout) == {"ok": False, "error": {"code": "not_archive",
                                                           "message": "不是 ZIP 压缩包（也不是文件夹），无法读取"}}
    r = CliRunner().invoke(cli, ["intake", str(fake), "--term", "1999-01", "--unit", "新华社"])
    assert r.exit_code == 2 and "找不到毕业批次" in r.stderr
    r = CliRunner().invoke(cli, ["intake", str(tmp / "nope.zip"), "--term", "2027-07", "--unit", "x"])
    assert r.exit_code == 2 and "找不到" in r.stderr
