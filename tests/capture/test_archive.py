"""Hostile and messy archives: each problem reported, good files still read."""
from __future__ import annotations

import io
import os
import stat
import zipfile

import pytest

from capture.archive import ArchiveError, Entry, Limits, Skipped, read_archive, safe_name

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100 + b"\xff\xd9"


class _GbkInfo(zipfile.ZipInfo):
    """A ZipInfo whose name is written as GBK bytes without the UTF-8 flag (as Chinese
    Windows tools do)."""

    __slots__ = ("raw",)

    def _encodeFilenameFlags(self):
        return self.raw, self.flag_bits & ~0x800


def _zip(path, entries, *, gbk_names=()):
    """entries: (name, data) or ZipInfo-tweaking tuples (name, data, attr)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for item in entries:
            name, data = item[0], item[1]
            info = (_GbkInfo if name in gbk_names else zipfile.ZipInfo)(name, date_time=(2026, 1, 1, 0, 0, 0))
            if name in gbk_names:
                info.raw = name.encode("gbk")
            info.compress_type = zipfile.ZIP_DEFLATED
            if len(item) > 2:
                info.external_attr = item[2] << 16
            zf.writestr(info, data)
    return path


def _read(path, **kw):
    out = list(read_archive(path, **kw))
    good = {e.name: e.data for e in out if isinstance(e, Entry)}
    bad = {s.name: s.code for s in out if isinstance(s, Skipped)}
    return good, bad


def test_zip_slip_absolute_and_drive_paths_are_refused(tmp_path):
    z = _zip(tmp_path / "a.zip", [("../x.jpg", JPEG), ("/etc/evil.jpg", JPEG), ("C:/win.jpg", JPEG),
                                  ("ok/../../y.jpg", JPEG), ("good/1.jpg", JPEG)])
    good, bad = _read(z)
    assert good == {"good/1.jpg": JPEG}
    assert bad == {"../x.jpg": "unsafe_path", "/etc/evil.jpg": "unsafe_path", "C:/win.jpg": "unsafe_path",
                   "ok/../../y.jpg": "unsafe_path"}
    assert safe_name("a\\b\\c.jpg") == "a/b/c.jpg"


def test_zip_bomb_is_refused_without_inflating(tmp_path):
    z = _zip(tmp_path / "bomb.zip", [("bomb.jpg", b"\x00" * (30 * 1024 * 1024)), ("fine.jpg", JPEG)])
    good, bad = _read(z)
    assert bad == {"bomb.jpg": "zip_bomb"} and "fine.jpg" in good


def test_lying_sizes_and_limits(tmp_path):
    z = _zip(tmp_path / "big.zip", [("a.jpg", os.urandom(3000)), ("b.jpg", os.urandom(3000)), ("c.jpg", JPEG)])
    good, bad = _read(z, limits=Limits(max_entry_bytes=2000))
    assert bad == {"a.jpg": "too_large", "b.jpg": "too_large"} and list(good) == ["c.jpg"]
    good, bad = _read(z, limits=Limits(max_entries=1))
    assert list(good) == ["a.jpg"] and bad == {"b.jpg": "archive_limit", "c.jpg": "archive_limit"}


def test_symlink_entries_and_nested_archives(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("x.jpg", JPEG)
    z = _zip(tmp_path / "n.zip", [("link.jpg", b"/etc/passwd", stat.S_IFLNK | 0o777), ("inner.zip", inner.getvalue()),
                                  ("sneaky.jpg", inner.getvalue()), ("ok.jpg", JPEG)])
    good, bad = _read(z)
    assert bad == {"link.jpg": "symlink", "inner.zip": "nested_archive", "sneaky.jpg": "nested_archive"}
    assert list(good) == ["ok.jpg"]


def test_gbk_names_without_utf8_flag_and_utf8_names(tmp_path):
    z = _zip(tmp_path / "g.zip", [("照片/张三_2061001000001.jpg", JPEG), ("学生/李四.jpg", JPEG)],
             gbk_names=("照片/张三_2061001000001.jpg",))
    with zipfile.ZipFile(z) as zf:
        assert not zf.infolist()[0].flag_bits & 0x800  # really written as GBK bytes
    good, bad = _read(z)
    assert set(good) == {"照片/张三_2061001000001.jpg", "学生/李四.jpg"} and not bad


def test_mac_and_windows_junk_is_skipped(tmp_path):
    z = _zip(tmp_path / "m.zip", [("__MACOSX/._1.jpg", b"x"), ("photos/.DS_Store", b"x"), ("Thumbs.db", b"x"),
                                  ("photos/._2.jpg", b"x"), ("photos/2.jpg", JPEG)])
    good, bad = _read(z)
    assert list(good) == ["photos/2.jpg"] and set(bad.values()) == {"system_file"} and len(bad) == 4


def test_duplicate_names_differing_in_case_are_both_kept(tmp_path):
    z = _zip(tmp_path / "c.zip", [("123.jpg", JPEG), ("123.JPG", JPEG + b"x")])
    good, _ = _read(z)
    assert set(good) == {"123.jpg", "123.JPG"}


def test_empty_archive_and_non_archive(tmp_path):
    z = _zip(tmp_path / "e.zip", [])
    assert _read(z) == ({}, {})
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"this is a text file renamed .zip")
    with pytest.raises(ArchiveError) as e:
        list(read_archive(fake))
    assert e.value.code == "not_archive" and "ZIP" in e.value.message_zh
    with pytest.raises(ArchiveError) as e:
        list(read_archive(tmp_path / "missing.zip"))
    assert e.value.code == "not_found"


def test_corrupt_entry_is_reported_others_read(tmp_path):
    z = _zip(tmp_path / "k.zip", [("a.jpg", os.urandom(5000)), ("b.jpg", JPEG)])
    data = bytearray(z.read_bytes())
    off = data.find(b"a.jpg") + 5 + 40  # inside a.jpg's compressed bytes
    data[off:off + 20] = b"\x00" * 20
    z.write_bytes(bytes(data))
    good, bad = _read(z)
    assert bad == {"a.jpg": "corrupt"} and "b.jpg" in good


def test_folder_reading_skips_symlinks_and_junk(tmp_path):
    root = tmp_path / "folder"
    (root / "sub").mkdir(parents=True)
    (root / "1.jpg").write_bytes(JPEG)
    (root / "sub" / "2.jpg").write_bytes(JPEG)
    (root / ".DS_Store").write_bytes(b"x")
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"secret")
    (root / "link.jpg").symlink_to(outside)
    (root / "linkdir").symlink_to(tmp_path)
    good, bad = _read(root)
    assert set(good) == {"1.jpg", "sub/2.jpg"}
    assert bad == {".DS_Store": "system_file", "link.jpg": "symlink", "linkdir": "symlink"}
