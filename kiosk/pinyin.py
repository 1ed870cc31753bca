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
from functools import lru_cache

MAX_LEN = 200
_ASCII_QUERY = re.compile(r"^[a-z][a-z0-9]*$")


def search_key(name: str | None) -> str | None:
    name = (name or "").strip()
    if not name:
        return None
    tokens = _tokens(name)
    if tokens is None or not tokens:
        return None
    first, rest = tokens[0], tokens[1:]
    keys: list[str] = []
    for reading in first:
        parts = [reading, *(t[0] for t in rest)]
        for k in ("".join(parts), "".join(p[0] for p in parts)):
            if k and k not in keys:
                keys.append(k)
    out = " ".join(keys)
    return out[:MAX_LEN] if out else None


def _tokens(name: str) -> list[tuple[str, ...]] | None:
    """Per Chinese character its readings (default first); runs of other letters/digits
    as one token.  Character by character, not by phrase: names are not words."""
    out: list[tuple[str, ...]] = []
    run = ""
    for ch in name:
        if _is_han(ch):
            if run:
                out.append((run,))
                run = ""
            readings = _char(ch)
            if readings is None:
                return None
            out.append(readings)
        elif ch.isalnum():
            run += ch.lower()
        elif run:
            out.append((run,))
            run = ""
    if run:
        out.append((run,))
    return out


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0003134f"


@lru_cache(maxsize=32768)
def _char(ch: str) -> tuple[str, ...] | None:
    """Toneless readings of one character, the common one first (cached: a roster of
    50 000 names uses a few thousand characters)."""
    try:
        from pypinyin import Style, lazy_pinyin, pinyin  # noqa: PLC0415
    except ImportError:  # pragma: no cover - pypinyin is a declared dependency
        return None
    common = lazy_pinyin(ch, style=Style.NORMAL)[0].lower()
    alts = [p.lower() for p in pinyin(ch, style=Style.NORMAL, heteronym=True)[0]]
    return tuple(dict.fromkeys([common, *alts]))


def is_pinyin_query(q: str) -> bool:
    """A query worth matching against pinyin keys: ASCII letters (digits allowed after the first), ≥ 2 characters."""
    return len(q) >= 2 and bool(_ASCII_QUERY.match(q.lower()))
