"""Content-addressed photo store on disk.

Bytes live at ``<root>/<aa>/<bb>/<sha256>`` (two fan-out levels keep directories small).
Writes are atomic: a temporary file in the same directory, ``fsync``, ``rename``, then an
``fsync`` of the directory, so a crash leaves either the whole file or nothing.  A file
is never rewritten: the same bytes have the same name.

Bulk writers (an intake of thousands of photos) may defer the two ``fsync`` calls —
7 ms a photo here — with :meth:`PhotoStore.deferred_sync` and call :meth:`PhotoStore.sync`
once before each database commit that refers to the new files: the rename still makes
every file whole-or-absent, and the sync makes them durable before anything points at
them.  Deferral is per thread, so web requests served meanwhile keep their own fsyncs.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path
from typing import Iterator

from upload.zipdet import atomic_output


class StoreError(Exception):
    """``code``: ``store`` (bad name), ``store_missing`` or ``store_mismatch``; ``sha256``
    the digest asked for (when there is one)."""

    def __init__(self, message: str, code: str = "store", sha256: str | None = None):
        super().__init__(message)
        self.code = code
        self.sha256 = sha256
        self.message_zh = message


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PhotoStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._local = threading.local()

    @contextlib.contextmanager
    def deferred_sync(self) -> Iterator["PhotoStore"]:
        """Within the block (this thread only), :meth:`put` skips ``fsync``; the caller
        must call :meth:`sync` before committing rows that refer to new files.  The
        block's end syncs too."""
        self._local.defer = True
        try:
            yield self
        finally:
            self._local.defer = False
            self.sync()

    def sync(self) -> None:
        """Make every file written with a deferred sync durable (one ``sync``)."""
        if getattr(self._local, "dirty", False):
            os.sync()
            self._local.dirty = False

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise StoreError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data``; return its SHA-256 hex digest.  Idempotent."""
        digest = sha256_hex(data)
        final = self.path_for(digest)
        if final.exists() and final.stat().st_size == len(data):
            return digest
        defer = getattr(self._local, "defer", False)
        with atomic_output(final, prefix=".tmp-", sync=not defer) as f:
            f.write(data)
        if defer:
            self._local.dirty = True
        return digest

    def get(self, sha256: str) -> bytes:
        p = self.path_for(sha256)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"photo {sha256[:12]}… is not in the store", "store_missing", sha256) from None
        return data

    def get_verified(self, sha256: str) -> bytes:
        """The bytes of ``sha256``, hashed again on the way out.

        On a shared mount (several worker machines) a copy can be stale or torn — a
        client cache, a half-synced replica, a disk error.  Such bytes are never
        returned: :class:`StoreError` ``store_mismatch`` (or ``store_missing``) names
        the digest instead."""
        data = self.get(sha256)
        got = sha256_hex(data)
        if got != sha256:
            raise StoreError(f"照片存储中 {sha256} 的内容与其哈希不符（实际 {got}，{len(data)} 字节）："
                             "共享存储上的副本过期或不完整", "store_mismatch", sha256)
        return data

    def verify(self, sha256: str) -> bool:
        """True when the stored bytes still hash to their name."""
        try:
            return sha256_hex(self.get(sha256)) == sha256
        except StoreError:
            return False

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

