"""Deterministic ZIP archives and atomic file writes.

A ZIP made here depends only on its entries (names and bytes): entries are sorted by
name, every entry carries the same timestamp (:data:`FIXED_TIME`, the ZIP epoch), the
same permissions (``-rw-r--r--``), the same "made by" system, UTF-8 names, no extra
fields and no archive comment.  Entries are *stored* (not deflated): photos are JPEGs
that do not shrink, and stored entries keep the bytes independent of the zlib version,
so a rebuild on another machine gives the same archive.

:func:`atomic_output` writes a file the way the photo store does: a temporary file in the
target directory, ``fsync``, ``rename``, directory ``fsync``; a crash leaves the old
state (no final file), never a half-written one.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

#: Every entry's modification time: 1980-01-01 00:00:00, the earliest a ZIP can hold.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
#: Unix permissions of every entry (regular file, rw-r--r--), in the high 16 bits.
FILE_ATTR = (0o100644 & 0xFFFF) << 16
PARTIAL_PREFIX = ".partial-"


class ZipBuildError(ValueError):
    """An entry list that cannot make a well-formed archive (duplicate or unsafe names)."""


def _info(name: str, compress: int) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    zi.compress_type = compress
    zi.create_system = 3        # "made by" Unix, whatever machine builds it
    zi.create_version = 20
    zi.extract_version = 20
    zi.external_attr = FILE_ATTR
    zi.extra = b""
    zi.comment = b""
    return zi


def check_name(name: str) -> None:
    """Refuse names that would escape the archive's folder or confuse unpackers."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise ZipBuildError(f"unsafe entry name: {name!r}")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ZipBuildError(f"unsafe entry name: {name!r}")


def sorted_names(names: Iterable[str]) -> list[str]:
    """Entry order of every archive: by the bytes of the UTF-8 name."""
    return sorted(names, key=lambda n: n.encode("utf-8"))


def write_zip(fileobj: BinaryIO, names: Iterable[str], get: Callable[[str], bytes], *,
              on_entry: Callable[[int, str], None] | None = None) -> None:
    """Write a deterministic ZIP of ``names`` to ``fileobj``; ``get(name)`` returns an
    entry's bytes and is called once per entry, in archive order (so large entries need
    not all be in memory).  ``on_entry(i, name)`` is called after each entry is written
    (progress; a test hook can pause there)."""
    order = sorted_names(names)
    seen: set[str] = set()
    for name in order:
        check_name(name)
        if name in seen:
            raise ZipBuildError(f"duplicate entry name: {name!r}")
        seen.add(name)
    with zipfile.ZipFile(fileobj, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for i, name in enumerate(order):
            zf.writestr(_info(name, zipfile.ZIP_STORED), get(name))
            if on_entry is not None:
                on_entry(i, name)


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    write_zip(buf, entries, entries.__getitem__)
    return buf.getvalue()


def normalize_zip(data: bytes, *, compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Re-pack an archive made by another library (openpyxl stamps the current time on
    each member) with fixed timestamps and attributes, keeping the member order."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", compress, allowZip64=True) as dst:
        for info in src.infolist():
            dst.writestr(_info(info.filename, compress), src.read(info))
    return out.getvalue()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, prefix: str = PARTIAL_PREFIX, sync: bool = True
                  ) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path``; on success fsync it and rename it to
    ``path`` (then fsync the directory).  On any exception the temporary file is removed
    and ``path`` is untouched.  ``sync=False`` skips both fsyncs (the rename still makes
    the file whole-or-absent) for bulk writers that sync once before committing."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if sync:
        fsync_dir(final.parent)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
