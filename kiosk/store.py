"""Content-addressed photo store on disk.

Bytes live at ``<root>/<aa>/<bb>/<sha256>`` (two fan-out levels keep directories small).
Writes are atomic: a temporary file in the same directory, ``fsync``, ``rename``, then an
``fsync`` of the directory, so a crash leaves either the whole file or nothing.  A file
is never rewritten: the same bytes have the same name.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from upload.zipdet import atomic_output


class StoreError(Exception):
    pass


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PhotoStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

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
        with atomic_output(final, prefix=".tmp-") as f:
            f.write(data)
        return digest

    def get(self, sha256: str) -> bytes:
        p = self.path_for(sha256)
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"photo {sha256[:12]}… is not in the store") from None
        return data

    def verify(self, sha256: str) -> bool:
        """True when the stored bytes still hash to their name."""
        try:
            return sha256_hex(self.get(sha256)) == sha256
        except StoreError:
            return False

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

