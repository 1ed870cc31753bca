"""Import enrolment (reference) photos: a ZIP or a folder named by 学号 or 身份证号.

Files are read with the same safe reader as the bulk intake
(:func:`capture.archive.read_archive`: no path traversal, links, nested archives or zip
bombs).  Each file is matched to a student of the term by its name, decoded, must show
exactly one face, and its 128-d encoding is computed **once** and kept on the student
(``reference_encoding``) with the SHA-256 of the bytes kept in the photo store
(``reference_sha256``).  Importing the same bytes again computes nothing; the same bytes
already known for another student reuse that encoding (and are reported: one enrolment
photo for two students is itself suspicious).

Name matching (``key``): ``xh`` the file name is the 学号; ``sfzh`` the 身份证号;
``auto`` a valid 18-character (check character verified) or 15-digit 身份证号 is looked
up as one, anything else as a 学号.  ``2027000123_张三.jpg`` also matches: when the whole
name is unknown, the part before the first ``_`` or space is tried.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..idcard import validate
from ..models import Student, Term, User, utcnow
from ..store import PhotoStore, sha256_hex
from . import audit
from .photos import encoding_array, encoding_bytes

log = logging.getLogger(__name__)

KEYS = ("auto", "xh", "sfzh")
OK_OUTCOMES = ("imported", "updated", "unchanged")

_MESSAGES = {
    "imported": "已导入参考照片",
    "updated": "已替换原参考照片",
    "unchanged": "与已有参考照片相同，未重新计算",
    "unknown_key": "文件名“{key}”不是本批次任何学生的学号或身份证号",
    "bad_id": "文件名“{key}”像身份证号，但{why}",
    "not_an_image": "不是可识别的图像文件",
    "undecodable": "图像无法解码：{why}",
    "no_face": "照片中没有检测到人脸",
    "multiple_faces": "照片中检测到 {n} 张人脸，参考照片须只有本人一张脸",
    "duplicate_for_student": "同一学生（学号 {xh}）已有文件“{first}”，本文件未使用",
    "error": "处理出错：{why}",
}


@dataclass
class FileResult:
    name: str
    outcome: str                 # imported | updated | unchanged | unmatched | rejected | skipped
    code: str
    message_zh: str
    xh: str | None = None
    sha256: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "xh": self.xh, "outcome": self.outcome, "code": self.code,
                "message_zh": self.message_zh, "sha256": self.sha256, "warnings": list(self.warnings)}


@dataclass
class ImportReport:
    source: str
    term: str
    key: str
    files: list[FileResult] = field(default_factory=list)
    encoded: int = 0                       # encodings computed in this run
    fatal: tuple[str, str] | None = None   # (code, message_zh): the input could not be read

    @property
    def summary(self) -> dict[str, int]:
        return dict(Counter(f.outcome for f in self.files))

    @property
    def problems(self) -> list[FileResult]:
        return [f for f in self.files if f.outcome not in OK_OUTCOMES and f.code != "system_file"]

    def to_dict(self) -> dict[str, Any]:
        d = {"source": self.source, "term": self.term, "key": self.key, "files": [f.to_dict() for f in self.files],
             "summary": self.summary, "encoded": self.encoded}
        if self.fatal:
            d["error"] = {"code": self.fatal[0], "message": self.fatal[1]}
        return d


def _msg(code: str, **kw) -> str:
    return _MESSAGES[code].format(**kw)


def _candidates(stem: str) -> list[str]:
    stem = stem.strip()
    out = [stem]
    head = re.split(r"[_\s（(]", stem, maxsplit=1)[0].strip()
    if head and head != stem:
        out.append(head)
    return out


class _Matcher:
    def __init__(self, students: list[Student], key: str):
        self.key = key
        self.by_xh = {s.xh: s for s in students}
        self.by_id = {s.id_number.upper(): s for s in students}

    def match(self, stem: str) -> tuple[Student | None, str, str]:
        """``(student, code, message)``; code ``ok`` when found."""
        bad_id = None
        for cand in _candidates(stem):
            v = cand.upper()
            if self.key in ("auto", "sfzh"):
                chk = validate(v)
                if chk.ok:
                    s = self.by_id.get(chk.value)
                    if s is not None:
                        return s, "ok", ""
                elif self.key == "sfzh" or (len(v) in (15, 18) and v[:-1].isdigit()):
                    bad_id = bad_id or (cand, chk.message_zh)
            if self.key in ("auto", "xh"):
                s = self.by_xh.get(cand)
                if s is not None:
                    return s, "ok", ""
        if bad_id is not None:
            return None, "bad_id", _msg("bad_id", key=bad_id[0], why=bad_id[1])
        return None, "unknown_key", _msg("unknown_key", key=stem.strip())


def _encode(data: bytes, prof) -> tuple[np.ndarray | None, str, str]:
    """``(encoding, code, message)`` of a reference photo (exactly one face)."""
    from qc.context import PhotoContext  # noqa: PLC0415

    ctx = PhotoContext(data, detection=prof.detection)
    err = ctx.decode_error
    if err is not None:
        code = "not_an_image" if err.code in ("not_an_image", "empty") else "undecodable"
        return None, code, _msg(code, why=err.message_zh)
    n = len(ctx.faces)
    if n == 0:
        return None, "no_face", _msg("no_face")
    if n > 1:
        return None, "multiple_faces", _msg("multiple_faces", n=n)
    return ctx.encoding, "ok", ""


def report_to_dict(report: ImportReport) -> dict[str, Any]:
    """Plain data (a background job's result) → :func:`report_from_dict`."""
    return {"source": report.source, "term": report.term, "key": report.key, "encoded": report.encoded,
            "fatal": list(report.fatal) if report.fatal else None, "files": [f.to_dict() for f in report.files]}


def report_from_dict(d: dict[str, Any]) -> ImportReport:
    return ImportReport(source=d["source"], term=d["term"], key=d["key"], encoded=d.get("encoded", 0),
                        fatal=tuple(d["fatal"]) if d.get("fatal") else None,
                        files=[FileResult(name=f["name"], outcome=f["outcome"], code=f["code"],
                                          message_zh=f["message_zh"], xh=f.get("xh"), sha256=f.get("sha256"),
                                          warnings=list(f.get("warnings") or [])) for f in d.get("files") or []])


def import_references(session: Session, store: PhotoStore, term: Term, path: str | Path, *, key: str = "auto",
                      actor: User | str | None = None, ip: str | None = None, limits=None,
                      progress: Callable[[int, str], None] | None = None, source_name: str | None = None) -> ImportReport:
    """Import the reference photos in ``path`` (ZIP or folder) for ``term``'s students.

    Writes the photo store and flushes the session (the caller commits).  A file that
    cannot be used is reported and skipped; an input that cannot be read at all is
    ``report.fatal`` (nothing written).
    """
    import qc  # noqa: PLC0415
    from capture.archive import ArchiveError, Entry, Limits, read_archive  # noqa: PLC0415

    if key not in KEYS:
        raise ValueError(f"key must be one of {KEYS}")
    report = ImportReport(source=source_name or Path(path).name, term=term.code, key=key)
    students = list(session.scalars(select(Student).where(Student.term_id == term.id)))
    matcher = _Matcher(students, key)
    # Encodings already computed for these bytes (this term's students and any other).
    known: dict[str, tuple[bytes, str]] = {}
    for sha, enc, xh in session.execute(select(Student.reference_sha256, Student.reference_encoding, Student.xh)
                                        .where(Student.reference_sha256.is_not(None),
                                               Student.reference_encoding.is_not(None))):
        known.setdefault(sha, (enc, xh))
    prof = qc.load_profile()
    first_file: dict[int, str] = {}
    changes: list[dict[str, Any]] = []
    try:
        entries = read_archive(path, limits or Limits())
        for k, e in enumerate(entries):
            if progress:
                progress(k + 1, e.name)
            if not isinstance(e, Entry):
                report.files.append(FileResult(e.name, "skipped", e.code, e.message_zh))
                continue
            report.files.append(_one(session, store, e, matcher, known, first_file, prof, report, changes))
    except ArchiveError as err:
        report.fatal = (err.code, err.message_zh)
        return report
    audit.record(session, "references.import", actor=actor, object_type="term", object_id=term.code,
                 term_id=term.id, ip=ip, source=report.source, key=key, summary=report.summary,
                 encoded=report.encoded, changes=changes[:2000], changes_total=len(changes),
                 problems=[{"name": f.name, "code": f.code} for f in report.problems][:2000])
    return report


def _one(session, store, e, matcher: _Matcher, known, first_file, prof, report: ImportReport,
         changes: list) -> FileResult:
    name = e.name
    stem = PurePosixPath(name).stem
    student, code, msg = matcher.match(stem)
    if student is None:
        return FileResult(name, "unmatched", code, msg)
    if student.id in first_file:
        return FileResult(name, "rejected", "duplicate_for_student",
                          _msg("duplicate_for_student", xh=student.xh, first=first_file[student.id]), xh=student.xh)
    sha = sha256_hex(e.data)
    old_enc = encoding_array(student.reference_encoding)
    if student.reference_sha256 == sha and old_enc is not None and old_enc.shape == (128,):
        first_file[student.id] = name
        return FileResult(name, "unchanged", "unchanged", _msg("unchanged"), xh=student.xh, sha256=sha)
    warnings = []
    if sha in known and encoding_array(known[sha][0]) is not None:
        blob, other_xh = known[sha]
        if other_xh != student.xh:
            warnings.append(f"与学号 {other_xh} 的参考照片完全相同，请核对")
    else:
        try:
            enc, code, msg = _encode(e.data, prof)
        except Exception as ex:  # noqa: BLE001 - one bad file never stops the others
            log.exception("reference %s", name)
            return FileResult(name, "rejected", "error", _msg("error", why=type(ex).__name__), xh=student.xh)
        if enc is None:
            return FileResult(name, "rejected", code, msg, xh=student.xh, sha256=sha)
        report.encoded += 1
        blob = encoding_bytes(enc)
        known[sha] = (blob, student.xh)
    store.put(e.data)
    outcome = "updated" if student.reference_sha256 else "imported"
    changes.append({"xh": student.xh, "sha256": sha, "old_sha256": student.reference_sha256})
    student.reference_sha256 = sha
    student.reference_encoding = blob
    student.reference_at = utcnow()
    session.flush()
    first_file[student.id] = name
    return FileResult(name, outcome, outcome, _msg(outcome), xh=student.xh, sha256=sha, warnings=warnings)


def format_report(report: ImportReport) -> list[str]:
    """Readable Chinese lines for the CLI."""
    if report.fatal:
        return [f"错误 [{report.fatal[0]}]：{report.fatal[1]}"]
    s = report.summary
    lines = [f"参考照片导入 {report.source} → 批次 {report.term}（文件名按 {report.key}）",
             f"  导入 {s.get('imported', 0)}，替换 {s.get('updated', 0)}，未变 {s.get('unchanged', 0)}，"
             f"未匹配 {s.get('unmatched', 0)}，拒绝 {s.get('rejected', 0)}，跳过 {s.get('skipped', 0)}；"
             f"本次计算人脸特征 {report.encoded} 个"]
    for f in report.files:
        if f.outcome in ("imported", "updated", "unchanged") and not f.warnings:
            continue
        if f.code == "system_file":
            continue
        who = f"（学号 {f.xh}）" if f.xh else ""
        lines.append(f"  {f.name}{who}：{f.message_zh}")
        for w in f.warnings:
            lines.append(f"  {f.name}{who}：提醒：{w}")
    return lines
