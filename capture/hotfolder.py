"""Hot folder: a tethered camera (or any program) drops files; each new one is a capture.

Rules, in the order :meth:`HotFolderSource.poll` applies them:

* Only top-level regular files with an accepted extension count; hidden files and
  temporary names (``*.part``, ``*.tmp``, ``*.crdownload``, ``*.download``, ``*~``) are
  ignored, as are the ``_errors``/``_done`` subfolders.
* Files present when the source opens are not captures (unless ``include_existing``).
* A file is *complete* when its size and modification time have not changed for
  ``settle_seconds`` over at least two polls **and** it is a whole image: a JPEG must
  decode and end with its EOI marker (or decode fully if a trailer follows), a PNG must
  carry its ``IEND`` chunk.  A file that is stable but still incomplete is waited for up
  to ``incomplete_timeout`` seconds (a writer may pause), then reported as truncated.
* A corrupt file (not an image, undecodable, too large, truncated past the timeout) is
  reported — :attr:`HotFolderSource.problems`, the ``capture.hotfolder`` logger, the
  optional ``on_problem`` callback — and moved to ``<folder>/_errors/`` with a
  ``.error.txt`` note next to it.  If it cannot be moved it is still skipped.
* A picked file is never picked again: the source remembers ``(name, size, mtime)``;
  a new file written under the same name later is a new capture.  With ``done_dir`` set,
  picked files are moved there.

Frames carry the file's bytes unchanged (``Frame.data``), its name and path.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import SourceError
from .frames import Frame, sniff_format
from .sources import _REQUIRED, BaseSource

__all__ = ["HotFolderSource", "HotFolderProblem"]

log = logging.getLogger("capture.hotfolder")

_TEMP_SUFFIXES = (".part", ".tmp", ".crdownload", ".download", "~", ".partial")


@dataclass(frozen=True)
class HotFolderProblem:
    """A file that was skipped: ``code`` (``not_an_image``, ``undecodable``, ``truncated``,
    ``too_large``, ``unreadable``), messages, and where the file went (``moved_to`` or ``None``)."""

    name: str
    code: str
    message_zh: str
    message_en: str
    moved_to: str | None
    time: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "code": self.code, "message_zh": self.message_zh,
                "message_en": self.message_en, "moved_to": self.moved_to, "time": self.time}


@dataclass
class _Watch:
    size: int
    mtime_ns: int
    stable_since: float
    polls: int = 1


class HotFolderSource(BaseSource):
    """Watch a directory for new image files (see the module docstring for the rules).

    Parameters
    ----------
    path : str | os.PathLike
        The folder (must exist).
    settle_seconds : float
        How long size and mtime must stay unchanged before a file is examined.
    incomplete_timeout : float
        How long a stable but incomplete image is waited for before it is an error.
    extensions : list[str]
        Accepted file extensions (case-insensitive).
    errors_dir : str
        Subfolder for corrupt files.
    done_dir : str, optional
        Subfolder to move picked files into (default: leave them).
    include_existing : bool
        Treat files already present at :meth:`open` as new captures.
    max_bytes : int
        Larger files are refused (``too_large``).
    on_problem : callable, optional
        Called with each :class:`HotFolderProblem` (not a config key).
    """

    KIND = "hotfolder"
    CONFIG = {"path": ((str, os.PathLike), _REQUIRED), "settle_seconds": ((int, float), 0.5),
              "incomplete_timeout": ((int, float), 15.0), "extensions": ((list, tuple), (".jpg", ".jpeg", ".png")),
              "errors_dir": ((str,), "_errors"), "done_dir": ((str,), None), "include_existing": ((bool,), False),
              "max_bytes": ((int,), 60_000_000)}

    def __init__(self, path: str | os.PathLike, settle_seconds: float = 0.5, incomplete_timeout: float = 15.0,
                 extensions: tuple[str, ...] | list[str] = (".jpg", ".jpeg", ".png"), errors_dir: str = "_errors",
                 done_dir: str | None = None, include_existing: bool = False, max_bytes: int = 60_000_000,
                 on_problem: Callable[[HotFolderProblem], None] | None = None):
        super().__init__()
        self.path = Path(path)
        self.settle_seconds = float(settle_seconds)
        self.incomplete_timeout = float(incomplete_timeout)
        self.extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
        self.errors_dir = errors_dir
        self.done_dir = done_dir
        self.include_existing = include_existing
        self.max_bytes = max_bytes
        self.on_problem = on_problem
        self.name = f"hotfolder:{self.path}"
        self.problems: list[HotFolderProblem] = []
        self._watch: dict[str, _Watch] = {}
        self._seen: set[tuple[str, int, int]] = set()
        self._ready: deque[Frame] = deque()

    # ------------------------------------------------------------------ lifecycle
    def _open(self) -> None:
        if not self.path.is_dir():
            raise SourceError("not_found", f"文件夹不存在：{self.path}", f"no such folder: {self.path}")
        self._watch.clear()
        self._ready.clear()
        if not self.include_existing:
            for name, st in self._candidates():
                self._seen.add((name, st.st_size, st.st_mtime_ns))

    def _read(self) -> Frame | None:
        self.poll()
        return self._ready.popleft() if self._ready else None

    # ------------------------------------------------------------------ scanning
    def _candidates(self):
        try:
            it = os.scandir(self.path)
        except OSError as e:
            raise SourceError("not_found", f"无法读取文件夹：{self.path}", f"cannot list {self.path}: {e}") from None
        with it:
            for entry in it:
                name = entry.name
                if name.startswith(".") or name.lower().endswith(_TEMP_SUFFIXES):
                    continue
                if os.path.splitext(name)[1].lower() not in self.extensions:
                    continue
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # vanished between listing and stat
                yield name, st

    def poll(self) -> int:
        """Look at the folder once; returns how many frames became ready."""
        now = time.monotonic()
        ready_before = len(self._ready)
        present = set()
        for name, st in self._candidates():
            present.add(name)
            key = (name, st.st_size, st.st_mtime_ns)
            if key in self._seen:
                continue
            w = self._watch.get(name)
            if w is None or (w.size, w.mtime_ns) != (st.st_size, st.st_mtime_ns):
                self._watch[name] = _Watch(st.st_size, st.st_mtime_ns, stable_since=now)
                continue
            w.polls += 1
            if w.polls < 2 or now - w.stable_since < self.settle_seconds:
                continue
            self._examine(name, w, now)
        for gone in set(self._watch) - present:
            del self._watch[gone]
        return len(self._ready) - ready_before

    def _examine(self, name: str, w: _Watch, now: float) -> None:
        path = self.path / name
        if w.size > self.max_bytes:
            self._problem(name, w, "too_large", f"文件太大（{w.size // 1_000_000} MB）", f"file too large ({w.size} bytes)")
            return
        try:
            data = path.read_bytes()
            st = path.stat()
        except OSError as e:
            self._problem(name, w, "unreadable", "文件无法读取", f"cannot read the file: {e}")
            return
        if len(data) != w.size or st.st_mtime_ns != w.mtime_ns:
            self._watch[name] = _Watch(st.st_size, st.st_mtime_ns, stable_since=now)  # still being written
            return
        verdict, code, zh, en = _completeness(data)
        if verdict == "ok":
            self._seen.add((name, w.size, w.mtime_ns))
            del self._watch[name]
            meta: dict[str, Any] = {"path": str(path), "size": w.size}
            if self.done_dir:
                moved = self._move(path, self.done_dir)
                meta["moved_to"] = moved
            self._ready.append(Frame(source=self.name, timestamp=w.mtime_ns / 1e9, data=data, name=name,
                                     index=self._index + len(self._ready), meta=meta))
        elif verdict == "incomplete":
            if now - w.stable_since >= self.incomplete_timeout:
                self._problem(name, w, code or "truncated", zh or "图像文件不完整（被截断）",
                              en or "the image file is incomplete (truncated)")
        else:
            self._problem(name, w, code, zh, en)

    # ------------------------------------------------------------------ problems
    def _move(self, path: Path, sub: str) -> str | None:
        dest_dir = self.path / sub
        try:
            dest_dir.mkdir(exist_ok=True)
            dest = dest_dir / path.name
            n = 1
            while dest.exists():
                dest = dest_dir / f"{path.stem}-{n}{path.suffix}"
                n += 1
            os.replace(path, dest)
            return str(dest)
        except OSError as e:
            log.warning("hot folder: cannot move %s to %s: %s", path, dest_dir, e)
            return None

    def _problem(self, name: str, w: _Watch, code: str, zh: str, en: str) -> None:
        self._seen.add((name, w.size, w.mtime_ns))
        self._watch.pop(name, None)
        moved = self._move(self.path / name, self.errors_dir)
        if moved:
            try:
                Path(moved + ".error.txt").write_text(f"{code}\n{zh}\n{en}\n", encoding="utf-8")
            except OSError:
                pass
        p = HotFolderProblem(name=name, code=code, message_zh=zh, message_en=en, moved_to=moved, time=time.time())
        self.problems.append(p)
        log.warning("hot folder %s: skipped %s (%s: %s)", self.path, name, code, en)
        if self.on_problem is not None:
            try:
                self.on_problem(p)
            except Exception:  # noqa: BLE001 - a callback must not stop the watcher
                log.exception("hot folder on_problem callback failed")


def _completeness(data: bytes) -> tuple[str, str, str, str]:
    """``("ok"|"incomplete"|"corrupt", code, zh, en)`` for a file's bytes."""
    if not data:
        return "incomplete", "truncated", "文件为空", "the file is empty"
    fmt = sniff_format(data)
    if fmt is None:
        if len(data) < 8:
            return "incomplete", "truncated", "文件不完整", "the file is incomplete"
        return "corrupt", "not_an_image", "不是 JPEG 或 PNG 图像", "not a JPEG or PNG image"
    from qc.context import DecodeError, decode  # noqa: PLC0415

    from ._pillow import strict_truncation  # noqa: PLC0415

    strict_truncation()
    if fmt == "PNG" and b"IEND" not in data[-16:]:
        return "incomplete", "truncated", "PNG 文件不完整（缺少 IEND）", "PNG file incomplete (no IEND chunk)"
    ends_whole = fmt == "PNG" or data.rstrip(b"\x00").endswith(b"\xff\xd9")
    try:
        decode(data, max_side=1024)
    except DecodeError as e:
        if e.code == "truncated" and not ends_whole:
            return "incomplete", "truncated", e.message_zh, e.message_en
        # The writer has finished (EOI/IEND present) and it still does not decode.
        return "corrupt", "undecodable", e.message_zh, e.message_en
    if fmt == "JPEG" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        # Decoded, but no EOI at the end: either a trailer after EOI (some cameras) or
        # libjpeg filled a missing tail.  Only accept when an EOI exists somewhere after SOS.
        sos = data.find(b"\xff\xda")
        if sos < 0 or data.find(b"\xff\xd9", sos) < 0:
            return "incomplete", "truncated", "JPEG 文件不完整（缺少结束标记）", "JPEG file incomplete (no EOI marker)"
    return "ok", "", "", ""
