"""upload/: deterministic archives, manifests and the batch layout, without a database."""
from __future__ import annotations

import hashlib
import io
import zipfile

import openpyxl
import pytest

from upload import batch, manifest, sheets, zipdet


def _row(i: int, data: bytes, **kw) -> manifest.ManifestRow:
    base = dict(arcname=f"2061001000{i:02d}.jpg", xh=f"2061001000{i:02d}", name=f"学生{i}", gender="男",
                id_number="11010519491231002X", level="本科", major="行政管理", branch="西安分部",
                centre="雁塔学习中心", class_name="行管2024秋", collect_code=f"=CODE+{i}", captured_at="2027-03-01 10:00:00",
                station="S1", operator="op", qc_verdict="pass", profile="chsi_xueli_v1 1.0",
                sha256=hashlib.sha256(data).hexdigest())
    base.update(kw)
    return manifest.ManifestRow(**base)


def _info(**kw) -> batch.BatchInfo:
    base = dict(label="2027-07-U-1", school="开放大学", term_code="2027-07", term_name="2027年秋季（7月）毕业",
                kind="unit", scope="全部", naming="xh", created_at="2027-03-01 10:00:00", created_by="admin",
                excluded=(("206100100099", "缺少图像采集码"),))
    base.update(kw)
    return batch.BatchInfo(**base)


def _build(rows, blobs, info=None) -> bytes:
    buf = io.BytesIO()
    batch.write_batch(buf, info or _info(), rows, blobs.__getitem__)
    return buf.getvalue()


def test_zip_is_deterministic_sorted_and_fixed():
    a = zipdet.zip_bytes({"b.txt": b"2", "a/x.jpg": b"1", "学生.txt": "中".encode()})
    b = zipdet.zip_bytes({"学生.txt": "中".encode(), "b.txt": b"2", "a/x.jpg": b"1"})
    assert a == b
    with zipfile.ZipFile(io.BytesIO(a)) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["a/x.jpg", "b.txt", "学生.txt"]
        for i in infos:
            assert i.date_time == zipdet.FIXED_TIME
            assert i.external_attr >> 16 == 0o100644
            assert i.extra == b"" and i.compress_type == zipfile.ZIP_STORED
        assert zf.read("学生.txt") == "中".encode()


@pytest.mark.parametrize("name", ["../x.jpg", "/abs.jpg", "a//b.jpg", "a\\b.jpg", ""])
def test_unsafe_names_refused(name):
    with pytest.raises(zipdet.ZipBuildError):
        zipdet.zip_bytes({name: b"x"})


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out" / "b.zip"
    with pytest.raises(RuntimeError):
        with zipdet.atomic_output(target) as f:
            f.write(b"half")
            raise RuntimeError("crash")
    assert not target.exists() and list((tmp_path / "out").iterdir()) == []
    with zipdet.atomic_output(target) as f:
        f.write(b"whole")
    assert target.read_bytes() == b"whole"


def test_xlsx_bytes_do_not_depend_on_time(monkeypatch):
    rows = [_row(1, b"a")]
    first = manifest.manifest_xlsx(rows)
    import time
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 86400 * 400)
    monkeypatch.setattr(time, "localtime", lambda *a: __import__("time").struct_time((2031, 5, 6, 7, 8, 9, 0, 126, 0)))
    assert manifest.manifest_xlsx(rows) == first
    wb = openpyxl.load_workbook(io.BytesIO(first))
    assert wb.properties.created == sheets.FIXED_DATETIME and wb.properties.modified == sheets.FIXED_DATETIME
    ws = wb.active
    assert [c.value for c in ws[1]] == list(manifest.HEADERS)
    assert ws.cell(2, 11).value == "=CODE+1" and ws.cell(2, 11).data_type == "s"   # text, not a formula


def test_batch_layout_manifest_and_sums():
    blobs = {hashlib.sha256(b).hexdigest(): b for b in (b"photo-1", b"photo-2")}
    shas = list(blobs)
    rows = [_row(2, b"photo-2", arcname="西安分部/雁塔学习中心/206100100002.jpg"),
            _row(1, b"photo-1", arcname="西安分部/雁塔学习中心/206100100001.jpg")]
    data = _build(rows, blobs)
    assert data == _build(list(reversed(rows)), blobs)          # order of rows does not matter
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.namelist()
        assert names == sorted(names, key=lambda n: n.encode())
        assert set(names) == {r.arcname for r in rows} | set(batch.SPECIAL_FILES)
        for r in rows:
            assert hashlib.sha256(zf.read(r.arcname)).hexdigest() == r.sha256 and r.sha256 in shas
        sums = manifest.parse_sha256sums(zf.read("SHA256SUMS"))
        assert set(sums) == set(names) - {"SHA256SUMS"}
        for n, d in sums.items():
            assert hashlib.sha256(zf.read(n)).hexdigest() == d
        csv_b = zf.read("manifest.csv")
        assert csv_b.startswith(b"\xef\xbb\xbf")
        parsed = manifest.read_manifest_csv(csv_b)
        assert [p["xh"] for p in parsed] == ["206100100001", "206100100002"]
        assert parsed[0]["collect_code"] == "=CODE+1" and parsed[0]["id_number"] == "11010519491231002X"
        summary = zf.read("summary.txt").decode()
        assert "照片数：2" in summary and "206100100099  缺少图像采集码" in summary


def test_hash_mismatch_stops_the_build():
    rows = [_row(1, b"photo-1")]
    with pytest.raises(batch.BatchBuildError) as e:
        _build(rows, {rows[0].sha256: b"tampered"})
    assert e.value.code == "hash_mismatch"


def test_names_and_groups():
    assert batch.arcname(xh="001", id_number="11010519491231002x", naming="sfzh") == "11010519491231002X.jpg"
    assert batch.arcname(xh="001", id_number="x", naming="xh", grouping=("centre", "major"),
                         groups={"centre": "a/b", "major": ""}) == "a_b/未填写/001.jpg"
    assert batch.parse_grouping("分部,学习中心，专业") == ("branch", "centre", "major")
    with pytest.raises(batch.BatchBuildError):
        batch.parse_grouping("年级")
    with pytest.raises(batch.BatchBuildError):
        batch.arcname(xh="1", id_number="2", naming="name")
