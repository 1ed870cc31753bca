"""One upload batch as a deterministic ZIP.

Layout of the archive::

    [分部/学习中心/层次/专业/]{学号|身份证号}.jpg   the approved photos, byte for byte
    manifest.csv                                 spec §6 columns, UTF-8 with BOM
    manifest.xlsx                                the same as a workbook
    summary.txt                                  what, for whom, by whom, counts, exclusions
    SHA256SUMS                                   every other entry; `sha256sum -c SHA256SUMS`

:func:`write_batch` depends only on a :class:`BatchInfo`, the manifest rows and the photo
bytes, so rebuilding a recorded batch from its stored rows gives the same bytes.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO, Callable, Sequence

from .manifest import ManifestRow, manifest_csv, manifest_xlsx, sha256sums
from .zipdet import sorted_names, write_zip

KINDS = {"unit": "图像采集单位（上报学信网）", "school": "学校教务系统"}
NAMINGS = {"xh": "学号", "sfzh": "身份证号"}
#: Group keys accepted on the command line → manifest field.
GROUP_FIELDS = {"分部": "branch", "学习中心": "centre", "层次": "level", "专业": "major",
                "branch": "branch", "centre": "centre", "center": "centre", "level": "level", "major": "major"}
GROUP_LABELS = {"branch": "分部", "centre": "学习中心", "level": "层次", "major": "专业"}
MISSING_FOLDER = "未填写"
SPECIAL_FILES = ("manifest.csv", "manifest.xlsx", "summary.txt", "SHA256SUMS")


class BatchBuildError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class BatchInfo:
    """What the summary says about a batch (all text, stored with the batch)."""

    label: str                      # e.g. 2027-07-U-20270301-101500
    school: str
    term_code: str
    term_name: str
    kind: str                       # unit | school
    scope: str                      # "全部" or the unit's name
    naming: str                     # xh | sfzh
    grouping: tuple[str, ...] = ()  # manifest fields: branch, centre, level, major
    created_at: str = ""            # UTC, "YYYY-MM-DD HH:MM:SS"
    created_by: str = ""
    excluded: tuple[tuple[str, str], ...] = ()   # (学号, reason)
    replaced: tuple[str, ...] = ()               # 学号 whose earlier delivered photo this replaces

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["grouping"] = list(self.grouping)
        d["excluded"] = [list(x) for x in self.excluded]
        d["replaced"] = list(self.replaced)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BatchInfo":
        d = dict(d)
        d["grouping"] = tuple(d.get("grouping") or ())
        d["excluded"] = tuple(tuple(x) for x in d.get("excluded") or ())
        d["replaced"] = tuple(d.get("replaced") or ())
        return cls(**d)


def parse_grouping(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"分部,学习中心"`` → ``("branch", "centre")``; unknown keys raise BatchBuildError."""
    if not spec:
        return ()
    parts = spec.replace("，", ",").split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for p in (x.strip() for x in parts):
        if not p:
            continue
        f = GROUP_FIELDS.get(p) or GROUP_FIELDS.get(p.lower())
        if f is None:
            raise BatchBuildError("group", f"未知的分组字段：{p}（可用：分部、学习中心、层次、专业）")
        if f not in out:
            out.append(f)
    return tuple(out)


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def folder_name(value: str | None) -> str:
    """A folder name that is safe on Windows and Unix (what an org/major name becomes)."""
    v = _UNSAFE.sub("_", (value or "").strip()).strip(" .")
    return v[:80] or MISSING_FOLDER


def file_stem(row_key: str) -> str:
    v = (row_key or "").strip().upper() if row_key else ""
    if not v or _UNSAFE.search(v) or v in (".", ".."):
        raise BatchBuildError("name", f"无法用作文件名：{row_key!r}")
    return v


def arcname(*, xh: str, id_number: str, naming: str, groups: dict[str, str] | None = None,
            grouping: Sequence[str] = ()) -> str:
    """``{学号}.jpg`` or ``{身份证号}.jpg`` (upper-case X), inside the group folders."""
    if naming not in NAMINGS:
        raise BatchBuildError("naming", f"未知的命名方式：{naming}（可用：xh、sfzh）")
    stem = file_stem(xh if naming == "xh" else id_number)
    if naming == "xh":
        stem = xh.strip()        # 学号 keeps its case
    folders = [folder_name((groups or {}).get(g)) for g in grouping]
    return "/".join([*folders, f"{stem}.jpg"])


def summary_text(info: BatchInfo, rows: Sequence[ManifestRow]) -> bytes:
    lines = [
        "毕业生学历照片上传批次 / Graduation photo upload batch",
        "",
        f"批次编号：{info.label}",
        f"学校：{info.school}",
        f"毕业批次：{info.term_code} {info.term_name}",
        f"交付对象：{KINDS.get(info.kind, info.kind)} ({info.kind})",
        f"范围：{info.scope}",
        f"文件命名：{{{NAMINGS.get(info.naming, info.naming)}}}.jpg",
        f"分组：{' / '.join(GROUP_LABELS.get(g, g) for g in info.grouping) or '不分组'}",
        f"生成时间（UTC）：{info.created_at}",
        f"生成人：{info.created_by}",
        "",
        f"照片数：{len(rows)}",
        f"其中替换此前已交付照片：{len(info.replaced)}",
    ]
    for xh in info.replaced:
        lines.append(f"  {xh}")
    lines.append(f"未纳入本批次：{len(info.excluded)}")
    for xh, reason in info.excluded:
        lines.append(f"  {xh}  {reason}")
    lines += [
        "",
        "文件：manifest.csv（UTF-8 带 BOM）、manifest.xlsx、SHA256SUMS",
        "校验：sha256sum -c SHA256SUMS",
        "同一照片交付图像采集单位与学校教务系统的字节完全相同（SHA-256 一致）。",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


@dataclass
class BuildResult:
    photos: int
    entries: list[str] = field(default_factory=list)


def write_batch(fileobj: BinaryIO, info: BatchInfo, rows: Sequence[ManifestRow],
                get_bytes: Callable[[str], bytes], *,
                on_entry: Callable[[int, int, str], None] | None = None) -> BuildResult:
    """Write the batch ZIP to ``fileobj``.

    ``get_bytes(sha256)`` returns a photo's bytes; every photo is hashed again here and a
    mismatch raises :class:`BatchBuildError` (``code="hash_mismatch"``) before the archive
    is complete.  ``on_entry(done, total, name)`` reports progress.
    """
    rows = sorted(rows, key=lambda r: r.arcname.encode("utf-8"))
    names = [r.arcname for r in rows]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise BatchBuildError("duplicate_name", f"批次中文件名重复：{', '.join(dup[:5])}")
    for n in names:
        if n.split("/")[-1] in SPECIAL_FILES:
            raise BatchBuildError("name", f"照片文件名与清单文件冲突：{n}")

    csv_b = manifest_csv(rows)
    xlsx_b = manifest_xlsx(rows)
    summary_b = summary_text(info, rows)
    sums = [(r.arcname, r.sha256) for r in rows]
    sums += [(n, hashlib.sha256(b).hexdigest()) for n, b in
             (("manifest.csv", csv_b), ("manifest.xlsx", xlsx_b), ("summary.txt", summary_b))]
    total = len(rows) + 4
    fixed = {"manifest.csv": csv_b, "manifest.xlsx": xlsx_b, "summary.txt": summary_b,
             "SHA256SUMS": sha256sums(sums)}
    by_name = {r.arcname: r for r in rows}

    def get(name: str) -> bytes:
        if name in fixed:
            return fixed[name]
        r = by_name[name]
        data = get_bytes(r.sha256)
        if hashlib.sha256(data).hexdigest() != r.sha256:
            raise BatchBuildError("hash_mismatch", f"照片 {r.xh} 的文件内容与记录的 SHA-256 不一致，已停止生成")
        return data

    progress = None if on_entry is None else (lambda i, name: on_entry(i + 1, total, name))
    names = sorted_names([*by_name, *fixed])
    write_zip(fileobj, names, get, on_entry=progress)
    return BuildResult(photos=len(rows), entries=names)
