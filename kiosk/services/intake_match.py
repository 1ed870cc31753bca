"""Which student is this file?  File names (学号 / 身份证号) and manifests.

Imaging units name photos by 学号 (``2061001000001.jpg``), by 身份证号
(``61011319900101123X.jpg``), or with the student's name in front
(``张三_2061001000001.JPG``); some send a spreadsheet mapping file names to 学号 (and the
图像采集码 they scanned).  :class:`Matcher` resolves one file name to one student of the
term, or says precisely why not (unknown key, a student of another term, a student
withdrawn from this term's roster, a 身份证号 with a wrong check digit, a name that fits
two students).

``key`` is ``xh`` (学号 only), ``sfzh`` (身份证号 only) or ``auto``: per file, a token
that is a valid 身份证号 (18 characters with the right ISO 7064 check character, or a
legacy 15-digit number) matches a student's 身份证号, and a token equal to a 学号 of the
term matches that student; the two must agree.  Messages never show a whole 身份证号.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import idcard
from ..models import Student, Term
from . import roster

KEYS = ("auto", "xh", "sfzh")

#: File types taken as photos (by magic bytes; the extension only when the bytes say nothing).
IMAGE_EXTS = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".heic", ".heif", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
_MAGIC = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"BM", "bmp"), (b"II*\x00", "tiff"),
          (b"MM\x00*", "tiff"), (b"GIF8", "gif"))


def sniff(data: bytes) -> str | None:
    """The image type the bytes announce (``jpeg``, ``png``, ``heif`` …) or ``None``."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "heif"
    return None


def is_photo(name: str, data: bytes) -> bool:
    """A file to treat as a photo: image bytes, or at least an image file name (a text file
    called ``x.jpg`` is checked and fails the format check, with that reason)."""
    return sniff(data[:16]) is not None or PurePosixPath(name.lower()).suffix in IMAGE_EXTS


@dataclass(frozen=True)
class Match:
    """How a file name resolved: ``student_id`` or an ``unmatched`` reason."""

    student_id: int | None = None
    xh: str | None = None
    key_kind: str | None = None          # xh | sfzh | manifest
    code: str | None = None              # why not: unknown_key | not_in_term | withdrawn | invalid_id | …
    message_zh: str | None = None
    message_en: str | None = None
    collect_code: str | None = None      # from the manifest, verbatim

    @property
    def ok(self) -> bool:
        return self.student_id is not None


def tokens(name: str) -> list[str]:
    """Candidate keys in a file name, most specific first: the whole stem, then its parts
    split at anything that is not a letter/digit (keeping, then dropping ``_``/``-``)."""
    stem = PurePosixPath(name).name
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    stem = stem.strip()
    out: list[str] = []
    for cand in [stem, *re.split(r"[^0-9A-Za-z_-]+", stem), *re.split(r"[^0-9A-Za-z]+", stem)]:
        cand = cand.strip("_-")
        if cand and cand not in out:
            out.append(cand)
    return out


def _looks_like_id(tok: str) -> bool:
    return (len(tok) == 18 and tok[:17].isdigit() and (tok[17].isdigit() or tok[17] in "xX")) or \
        (len(tok) == 15 and tok.isdigit())


# ---------------------------------------------------------------------------- manifest
class ManifestError(Exception):
    """The manifest file as a whole cannot be used."""

    def __init__(self, code: str, message_zh: str):
        super().__init__(message_zh)
        self.code = code
        self.message_zh = message_zh


@dataclass
class ManifestRow:
    row: int
    file: str
    xh: str | None
    id_number: str | None
    collect_code: str | None


@dataclass
class Manifest:
    """File name → (学号 or 身份证号, 采集码) rows of a CSV/XLSX mapping file."""

    name: str
    rows: list[ManifestRow] = field(default_factory=list)
    issues: list[dict] = field(default_factory=list)        # {"row", "code", "message_zh"}
    _by_key: dict[str, ManifestRow] = field(default_factory=dict)
    used: set[int] = field(default_factory=set)

    def lookup(self, name: str) -> ManifestRow | None:
        n = name.replace("\\", "/").lower()
        r = self._by_key.get(n) or self._by_key.get(PurePosixPath(n).name)
        if r is not None:
            self.used.add(r.row)
        return r

    def unused(self) -> list[ManifestRow]:
        return [r for r in self.rows if r.row not in self.used]


_FILE_HEADERS = ("文件名", "照片文件名", "照片名", "照片名称", "照片", "文件", "图片", "图片名", "文件名称",
                 "filename", "file", "photo", "image", "picture", "photofile")
_CODE_HEADERS = ("采集码", "图像采集码", "图像信息采集码", "学历照片采集码", "cjm", "collectcode", "capturecode",
                 "code")


def read_manifest(data: bytes, filename: str = "") -> Manifest:
    """Parse a manifest (CSV in UTF-8/BOM/GBK, or XLSX).  Raises :class:`ManifestError`."""
    try:
        _, headers, rows = roster.read_table(data, filename)
    except roster.RosterFileError as e:
        raise ManifestError(e.code, f"清单文件无法读取：{e.message_zh}") from None
    norm = [roster._norm_header(h) for h in headers]

    def col(names) -> int | None:
        wanted = {roster._norm_header(n) for n in names}
        for i, h in enumerate(norm):
            if h in wanted:
                return i
        return None

    c_file = col(_FILE_HEADERS)
    c_xh = col(roster.FIELDS["xh"][1])
    c_id = col(roster.FIELDS["id_number"][1])
    c_code = col(_CODE_HEADERS)
    if c_file is None:
        raise ManifestError("manifest_columns", "清单缺少“文件名”列（表头可为：文件名、照片文件名、filename）")
    if c_xh is None and c_id is None:
        raise ManifestError("manifest_columns", "清单缺少“学号”或“身份证号”列")
    m = Manifest(name=filename or "manifest")

    def cell(cells, i):
        if i is None or i >= len(cells):
            return ""
        text, _ = roster._code_text(cells[i])
        return text.strip()

    for rownum, cells in rows:
        f = cell(cells, c_file).replace("\\", "/")
        xh, idn, code = cell(cells, c_xh), cell(cells, c_id).upper(), cell(cells, c_code)
        if not (f or xh or idn or code):
            continue
        if not f:
            m.issues.append({"row": rownum, "code": "manifest_no_file", "message_zh": f"清单第 {rownum} 行没有文件名"})
            continue
        if not (xh or idn):
            m.issues.append({"row": rownum, "code": "manifest_no_key",
                             "message_zh": f"清单第 {rownum} 行（{f}）没有学号或身份证号"})
            continue
        r = ManifestRow(rownum, f, xh or None, idn or None, code or None)
        keys = {f.lower(), PurePosixPath(f.lower()).name}
        clash = next((self_row for k in keys if (self_row := m._by_key.get(k)) is not None), None)
        if clash is not None:
            m.issues.append({"row": rownum, "code": "manifest_duplicate",
                             "message_zh": f"清单第 {rownum} 行的文件名 {f} 与第 {clash.row} 行重复，以第 {clash.row} 行为准"})
            continue
        m.rows.append(r)
        for k in keys:
            m._by_key.setdefault(k, r)
    return m


# ---------------------------------------------------------------------------- matcher
def withdrawn_match(xh: str, key_kind: str | None = None) -> Match:
    """The file names a student withdrawn from the term's roster: not imported, said why."""
    return Match(xh=xh, key_kind=key_kind, code="withdrawn",
                 message_zh=f"学生已从本期名单撤销（学号 {xh}），未导入",
                 message_en=f"the student ({xh}) was withdrawn from this term's roster; not imported")


class Matcher:
    """Resolve file names to students of ``term`` (students loaded once)."""

    def __init__(self, session: Session, term: Term, key: str = "auto", manifest: Manifest | None = None):
        if key not in KEYS:
            raise ValueError(f"key must be one of {KEYS}")
        self.session = session
        self.term = term
        self.key = key
        self.manifest = manifest
        self.by_xh: dict[str, tuple[int, str]] = {}
        self.by_xh_lower: dict[str, tuple[int, str]] = {}
        self.by_id: dict[str, tuple[int, str]] = {}
        self.withdrawn: set[int] = set()
        for sid, xh, idn, gone in session.execute(select(Student.id, Student.xh, Student.id_number,
                                                         Student.withdrawn_at).where(Student.term_id == term.id)):
            if gone is not None:
                self.withdrawn.add(sid)
            self.by_xh[xh] = (sid, xh)
            self.by_xh_lower.setdefault(xh.lower(), (sid, xh))
            if idn:
                self.by_id[idn.upper()] = (sid, xh)

    # -------------------------------------------------------------- helpers
    def _xh(self, tok: str) -> tuple[int, str] | None:
        return self.by_xh.get(tok) or self.by_xh_lower.get(tok.lower())

    def _other_term(self, *, xh: str | None = None, id_number: str | None = None) -> str | None:
        stmt = select(Term.code).join(Student, Student.term_id == Term.id).where(Student.term_id != self.term.id)
        stmt = stmt.where(Student.xh == xh) if xh is not None else stmt.where(Student.id_number == id_number)
        return self.session.scalar(stmt.order_by(Term.code.desc()).limit(1))

    # -------------------------------------------------------------- matching
    def match(self, name: str) -> Match:
        m = None
        if self.manifest is not None:
            row = self.manifest.lookup(name)
            if row is not None:
                m = self._from_manifest(row)
        if m is None:
            m = self._from_name(name)
        if m.ok and m.student_id in self.withdrawn:
            return withdrawn_match(m.xh or "", m.key_kind)
        return m

    def _from_manifest(self, row: ManifestRow) -> Match:
        hit = self._xh(row.xh) if row.xh else None
        kind = "manifest"
        if hit is None and row.id_number:
            hit = self.by_id.get(row.id_number)
        if hit is not None:
            return Match(hit[0], hit[1], kind, collect_code=row.collect_code)
        if row.xh:
            other = self._other_term(xh=row.xh)
            if other:
                return Match(code="not_in_term", key_kind=kind, message_zh=(
                    f"清单第 {row.row} 行的学号 {row.xh} 不在 {self.term.code} 批次名单中（属于 {other} 批次）"))
            return Match(code="unknown_key", key_kind=kind,
                         message_zh=f"清单第 {row.row} 行的学号 {row.xh} 不在 {self.term.code} 批次名单中")
        return Match(code="unknown_key", key_kind=kind, message_zh=(
            f"清单第 {row.row} 行的身份证号 {idcard.mask(row.id_number)} 不在 {self.term.code} 批次名单中"))

    def _from_name(self, name: str) -> Match:
        toks = tokens(name)
        found: dict[int, tuple[str, str]] = {}     # student id → (xh, key kind)
        ids_valid: list[str] = []
        ids_bad: list[tuple[str, str]] = []
        for tok in toks:
            if self.key in ("auto", "sfzh") and _looks_like_id(tok):
                chk = idcard.validate(tok)
                if chk.ok:
                    ids_valid.append(chk.value)
                    hit = self.by_id.get(chk.value)
                    if hit is not None:
                        found.setdefault(hit[0], (hit[1], "sfzh"))
                        continue
                else:
                    ids_bad.append((chk.value, chk.message_zh))
            if self.key in ("auto", "xh"):
                hit = self._xh(tok)
                if hit is not None:
                    found.setdefault(hit[0], (hit[1], "xh"))
        if len(found) == 1:
            sid, (xh, kind) = next(iter(found.items()))
            return Match(sid, xh, kind)
        if len(found) > 1:
            listed = "、".join(xh for xh, _ in found.values())
            return Match(code="ambiguous_key", message_zh=f"文件名同时对应多名学生（学号 {listed}），无法确定是谁")
        # Nothing in this term: say as precisely as possible why.
        for idn in ids_valid:
            other = self._other_term(id_number=idn)
            if other:
                return Match(code="not_in_term", key_kind="sfzh", message_zh=(
                    f"身份证号 {idcard.mask(idn)} 的学生不在 {self.term.code} 批次名单中（属于 {other} 批次）"))
        if self.key in ("auto", "xh"):
            for tok in toks:
                if tok.isalnum() and any(c.isdigit() for c in tok):
                    other = self._other_term(xh=tok)
                    if other:
                        return Match(code="not_in_term", key_kind="xh", message_zh=(
                            f"学号 {tok} 不在 {self.term.code} 批次名单中（属于 {other} 批次）"))
        if ids_valid:
            return Match(code="unknown_key", key_kind="sfzh", message_zh=(
                f"身份证号 {idcard.mask(ids_valid[0])} 不在 {self.term.code} 批次名单中"))
        if ids_bad and self.key != "xh":
            idn, why = ids_bad[0]
            return Match(code="invalid_id", key_kind="sfzh",
                         message_zh=f"文件名中的身份证号 {idcard.mask(idn)} 无效：{why}")
        hint = {"xh": "学号", "sfzh": "身份证号", "auto": "学号或身份证号"}[self.key]
        extra = ""
        if self.key == "xh" and any(_looks_like_id(t) and idcard.validate(t).ok for t in toks):
            extra = "（文件名像身份证号，可改用按身份证号匹配）"
        return Match(code="unknown_key", message_zh=f"文件名中找不到 {self.term.code} 批次学生的{hint}{extra}")
