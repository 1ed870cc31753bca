"""``kiosk qc`` CLI (JSON shape, exit codes, bad files) and the annotated PNG."""
from __future__ import annotations

import io
import json

from tests.qc import fixtures as fx
from click.testing import CliRunner
from tests.qc.fixtures import Layout
from PIL import Image

import qc
from qc.cli import qc_command

KEYS = {"check", "status", "measured", "expected", "code", "message_zh", "message_en", "label_zh"}


def test_json_shape_and_exit_zero(tmp_path, clean_photo):
    p = tmp_path / "ok.jpg"
    p.write_bytes(clean_photo)
    r = CliRunner().invoke(qc_command, [str(p), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert isinstance(data, list) and len(data) == 1
    obj = data[0]
    assert {"file", "profile", "verdict", "checks", "elapsed_ms"} <= set(obj)
    assert obj["verdict"] == "pass" and obj["profile"] == "chsi_xueli_v1"
    assert len(obj["checks"]) == 29 and all(KEYS <= set(c) for c in obj["checks"])


def test_exit_one_when_any_photo_fails_and_garbage_is_a_report(tmp_path, clean_photo, frll_path):
    ok, bad, garbage, empty = (tmp_path / n for n in ("ok.jpg", "bad.jpg", "garbage.jpg", "empty.jpg"))
    ok.write_bytes(clean_photo)
    bad.write_bytes(fx.make_spec_photo(frll_path, layout=Layout(crown_y=30)))
    garbage.write_bytes(b"\x00\x01garbage" * 100)
    empty.write_bytes(b"")
    r = CliRunner().invoke(qc_command, [str(ok), str(bad), str(garbage), str(empty), "--json"])
    assert r.exit_code == 1
    assert r.exception is None or isinstance(r.exception, SystemExit)
    data = json.loads(r.output)
    assert [d["verdict"] for d in data] == ["pass", "fail", "fail", "fail"]
    assert [c for c in data[1]["checks"] if c["check"] == "head_top"][0]["status"] == "fail"
    for d in data[2:]:
        jf = [c for c in d["checks"] if c["check"] == "jpeg_format"][0]
        assert jf["status"] == "fail"


def test_usage_errors_exit_two(tmp_path, clean_photo):
    p = tmp_path / "ok.jpg"
    p.write_bytes(clean_photo)
    assert CliRunner().invoke(qc_command, [str(tmp_path / "missing.jpg")]).exit_code == 2
    assert CliRunner().invoke(qc_command, [str(p), "--profile", "nope"]).exit_code == 2
    assert CliRunner().invoke(qc_command, []).exit_code == 2


def test_table_output_is_chinese_and_reference_and_annotate(tmp_path, clean_photo, frll_path):
    p = tmp_path / "ok.jpg"
    p.write_bytes(clean_photo)
    out = tmp_path / "ann"
    r = CliRunner().invoke(qc_command, [str(p), "--reference", str(frll_path), "--annotate", str(out)])
    assert r.exit_code == 0, r.output
    assert "结论：通过" in r.output and "人像比对（identity_match）" in r.output
    png = (out / "ok.qc.png").read_bytes()
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.size == (480, 640)


def test_annotate_marks_failing_region(frll_path):
    data = fx.make_spec_photo(frll_path, layout=Layout(crown_y=30))
    rep = qc.check_photo(data, name="x.jpg")
    im = Image.open(io.BytesIO(qc.annotate(data, rep))).convert("RGB")
    region = rep["head_top"].region
    px = [im.getpixel((x, region[1])) for x in range(0, 480, 40)]
    assert any(p[0] > 200 and p[1] < 60 and p[2] < 60 for p in px)   # red outline of the failing region


def test_annotate_survives_garbage():
    png = qc.annotate(b"not an image")
    assert Image.open(io.BytesIO(png)).format == "PNG"
