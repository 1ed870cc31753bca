"""Pinyin search keys for student names (so ``zhangsan`` or ``zs`` finds 张三).

``search_key("单雄信")`` → ``"danxiongxin dxx shanxiongxin sxx"``: the name's pinyin
without tones, joined, and its initials, for every reading of the first character
(surnames are often read differently from the common word: 单 shàn, 曾 zēng, 解 xiè).
The key is stored in ``students.name_pinyin`` and matched with ``LIKE '%q%'`` on
lower-case ASCII queries.  Non-Chinese characters are kept as they are (lower-cased,
without spaces).  Returns ``None`` when the name is empty or pypinyin is not installed
(search then simply has no pinyin match).
"""
from __future__ import annotations

import re

MAX_LEN = 200
_ASCII_QUERY = re.compile(r"^[a-z][a-z0-9]*$")


def search_key(name: str | None) -> str | None:
    name = (name or "").strip()
    if not name:
        return None
    try:
        from pypinyin import Style, lazy_pinyin, pinyin  # noqa: PLC0415
    except ImportError:  # pragma: no cover - pypinyin is a declared dependency
        return None
    rest = [p.lower() for p in lazy_pinyin(name[1:], style=Style.NORMAL, errors="default")]
    first = {p.lower() for p in pinyin(name[0], style=Style.NORMAL, heteronym=True, errors="default")[0]}
    keys: list[str] = []
    for f in sorted(first, key=lambda p: (p != lazy_pinyin(name[0])[0].lower(), p)):
        parts = [re.sub(r"\s+", "", x) for x in [f, *rest] if x.strip()]
        for k in ("".join(parts), "".join(x[0] for x in parts if x)):
            if k and k not in keys:
                keys.append(k)
    out = " ".join(keys)
    return out[:MAX_LEN] if out else None


def is_pinyin_query(q: str) -> bool:
    """A query worth matching against pinyin keys: ASCII letters (digits allowed after the first), ≥ 2 characters."""
    return len(q) >= 2 and bool(_ASCII_QUERY.match(q.lower()))
