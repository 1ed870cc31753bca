"""Safe reading of the folders and ZIP archives imaging units hand over.

Nothing from an archive is ever written to disk under its own name: entries are read
into memory (within limits) and handed on as :class:`Entry`; everything refused is a
:class:`Skipped` with a stable code and a Chinese/English reason, so the caller can
report it and carry on with the good files.

Refused or neutralised:

* path traversal (``../x.jpg``), absolute paths and drive letters → ``unsafe_path``
* symbolic links (ZIP entries with a link mode; links in folders) → ``symlink``
* nested archives (by extension or magic bytes) → ``nested_archive``
* entries larger than ``max_entry_bytes``, or compressed more than ``max_ratio`` : 1 and
  larger than 1 MiB (zip bombs) → ``too_large`` / ``zip_bomb``; the archive total is
  capped at ``max_total_bytes`` and ``max_entries`` (the rest → ``archive_limit``)
* encrypted or corrupt entries → ``encrypted`` / ``corrupt``
* ``__MACOSX/``, ``.DS_Store``, ``Thumbs.db``, ``desktop.ini`` → ``system_file``

File names in ZIPs made on Chinese Windows are GBK/CP936 without the UTF-8 flag:
they are decoded as UTF-8 when valid, else GB18030.
"""
from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator

ARCHIVE_EXTS = {".zip", ".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".cab", ".jar"}
ARCHIVE_MAGIC = (b"PK\x03\x04", b"Rar!", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b", b"BZh", b"\xfd7zXZ")
SYSTEM_NAMES = {".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db"}


@dataclass(frozen=True)
class Limits:
    max_entries: int = 50_000
    max_entry_bytes: int = 40 * 1024 * 1024
    max_total_bytes: int = 4 * 1024 * 1024 * 1024
    max_ratio: float = 200.0


@dataclass(frozen=True)
class Entry:
    """A file to process: ``name`` is the decoded path inside the archive/folder."""

    name: str
    data: bytes

    @property
    def basename(self) -> str:
        return PurePosixPath(self.name).name


@dataclass(frozen=True)
class Skipped:
    name: str
    code: str
    message_zh: str
    message_en: str


class ArchiveError(Exception):
    """The input as a whole cannot be read (not an archive, unreadable folder...)."""

    def __init__(self, code: str, message_zh: str, message_en: str):
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en


_MESSAGES = {
    "unsafe_path": ("路径不安全（含 .. 或绝对路径），已拒绝", "unsafe path (.. or absolute), refused"),
    "symlink": ("符号链接，已拒绝", "symbolic link, refused"),
    "nested_archive": ("压缩包内又有压缩包，请解压后重新打包", "nested archive; unpack it and re-pack the photos"),
    "too_large": ("文件过大，已拒绝", "file too large, refused"),
    "zip_bomb": ("压缩比异常（疑似压缩炸弹），已拒绝", "abnormal compression ratio (zip bomb?), refused"),
    "archive_limit": ("超出压缩包总大小或文件数上限，未处理", "beyond the archive's size/count limit, not processed"),
    "encrypted": ("文件已加密，无法读取", "encrypted entry, cannot be read"),
    "corrupt": ("文件已损坏（校验失败）", "corrupt entry (CRC or format error)"),
    "system_file": ("系统文件，已跳过", "system file, skipped"),
    "unreadable": ("文件无法读取", "file cannot be read"),
}


def _skip(name: str, code: str, detail: str = "") -> Skipped:
    zh, en = _MESSAGES[code]
    if detail:
        zh, en = f"{zh}（{detail}）", f"{en} ({detail})"
    return Skipped(name, code, zh, en)


def decode_zip_name(info: zipfile.ZipInfo) -> str:
    """The entry name as the sender meant it (UTF-8 flag honoured; else UTF-8 or GBK)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:  # pragma: no cover - zipfile already decoded differently
        return info.filename
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return info.filename  # pragma: no cover - gb18030 decodes nearly anything


def safe_name(name: str) -> str | None:
    """Normalise an archive path; ``None`` when it is absolute or escapes the root."""
    n = name.replace("\\", "/")
    if n.startswith("/") or (len(n) > 1 and n[1] == ":") or n.startswith("//"):
        return None
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def _is_system(name: str) -> bool:
    parts = name.split("/")
    return "__MACOSX" in parts or parts[-1].lower() in SYSTEM_NAMES or parts[-1].startswith("._")


def _is_nested_archive(name: str, head: bytes) -> bool:
    suffix = PurePosixPath(name.lower()).suffix
    return suffix in ARCHIVE_EXTS or any(head.startswith(m) for m in ARCHIVE_MAGIC)


def read_archive(path: str | os.PathLike, limits: Limits = Limits()) -> Iterator[Entry | Skipped]:
    """Yield the entries of a ZIP file or a folder, safest first: never follows links."""
    p = Path(path)
    if p.is_dir():
        yield from _read_folder(p, limits)
        return
    if not p.is_file():
        raise ArchiveError("not_found", f"找不到文件或文件夹：{p}", f"no such file or folder: {p}")
    if not zipfile.is_zipfile(p):
        raise ArchiveError("not_archive", "不是 ZIP 压缩包（也不是文件夹），无法读取",
                           "not a ZIP archive (nor a folder); cannot be read")
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as e:
        raise ArchiveError("bad_zip", f"压缩包已损坏：{e}", f"corrupt ZIP archive: {e}") from None
    with zf:
        yield from _read_zip(zf, limits)


def _read_zip(zf: zipfile.ZipFile, limits: Limits) -> Iterator[Entry | Skipped]:
    total = 0
    count = 0
    for info in zf.infolist():
        raw_name = decode_zip_name(info)
        if info.is_dir():
            continue
        name = safe_name(raw_name)
        if name is None:
            yield _skip(raw_name, "unsafe_path")
            continue
        if _is_system(name):
            yield _skip(name, "system_file")
            continue
        mode = info.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            yield _skip(name, "symlink")
            continue
        count += 1
        if count > limits.max_entries or total + info.file_size > limits.max_total_bytes:
            yield _skip(name, "archive_limit")
            continue
        if info.flag_bits & 0x1:
            yield _skip(name, "encrypted")
            continue
        if info.file_size > limits.max_entry_bytes:
            yield _skip(name, "too_large", f"{info.file_size // 1024 // 1024} MB")
            continue
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(1, info.compress_size):
            yield _skip(name, "zip_bomb", f"{info.file_size // max(1, info.compress_size)}:1")
            continue
        if PurePosixPath(name.lower()).suffix in ARCHIVE_EXTS:
            yield _skip(name, "nested_archive")
            continue
        try:
            with zf.open(info) as f:
                # Headers can lie about sizes: never read more than the limit.
                data = f.read(limits.max_entry_bytes + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
            yield _skip(name, "corrupt", str(e)[:80])
            continue
        except RuntimeError as e:  # encrypted without the flag, unsupported compression
            yield _skip(name, "encrypted" if "password" in str(e).lower() else "corrupt", str(e)[:80])
            continue
        if len(data) > limits.max_entry_bytes:
            yield _skip(name, "too_large")
            continue
        if _is_nested_archive(name, data[:8]):
            yield _skip(name, "nested_archive")
            continue
        total += len(data)
        yield Entry(name, data)


def _read_folder(root: Path, limits: Limits) -> Iterator[Entry | Skipped]:
    total = 0
    count = 0
    try:
        walker = sorted(os.walk(root, followlinks=False))
    except OSError as e:  # pragma: no cover
        raise ArchiveError("unreadable", f"文件夹无法读取：{e}", f"folder cannot be read: {e}") from None
    for dirpath, dirnames, filenames in walker:
        dpath = Path(dirpath)
        for d in dirnames:
            if (dpath / d).is_symlink():
                yield _skip((dpath / d).relative_to(root).as_posix(), "symlink")
        for fn in sorted(filenames):
            fp = dpath / fn
            name = fp.relative_to(root).as_posix()
            if _is_system(name):
                yield _skip(name, "system_file")
                continue
            if fp.is_symlink():
                yield _skip(name, "symlink")
                continue
            count += 1
            try:
                size = fp.stat().st_size
            except OSError:
                yield _skip(name, "unreadable")
                continue
            if count > limits.max_entries or total + size > limits.max_total_bytes:
                yield _skip(name, "archive_limit")
                continue
            if size > limits.max_entry_bytes:
                yield _skip(name, "too_large", f"{size // 1024 // 1024} MB")
                continue
            try:
                with open(fp, "rb") as f:
                    data = f.read(limits.max_entry_bytes + 1)
            except OSError as e:
                yield _skip(name, "unreadable", str(e)[:80])
                continue
            if _is_nested_archive(name, data[:8]):
                yield _skip(name, "nested_archive")
                continue
            total += len(data)
            yield Entry(name, data)
