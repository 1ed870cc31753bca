"""居民身份证号 (GB 11643-1999): validation and masking.

An 18-character number is 6 digits of region, 8 of birth date (YYYYMMDD), 3 of sequence
(odd = male) and a check character computed with ISO 7064 MOD 11-2 (``X`` stands for 10).
Legacy 15-digit numbers (YYMMDD birth date, no check digit) are accepted but flagged.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"


def check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS))
    return _CHECK[total % 11]


@dataclass(frozen=True)
class IdCheck:
    value: str                 # normalised (upper-case X, stripped)
    ok: bool
    legacy: bool = False       # 15-digit number
    code: str = "ok"
    message_zh: str = ""
    birth_date: dt.date | None = None
    gender: str | None = None  # 男 / 女 from the sequence digit


def _birth(s: str) -> dt.date | None:
    try:
        return dt.date(int(s[0:4]), int(s[4:6]), int(s[6:8]))
    except ValueError:
        return None


def validate(raw: str, *, today: dt.date | None = None) -> IdCheck:
    """Validate a 身份证号 and explain what is wrong in Chinese."""
    today = today or dt.date.today()
    v = (raw or "").strip().replace(" ", "").upper()
    if not v:
        return IdCheck(v, False, code="empty", message_zh="身份证号为空")
    if len(v) == 15:
        if not v.isdigit():
            return IdCheck(v, False, legacy=True, code="chars", message_zh="15 位身份证号只能是数字")
        b = _birth("19" + v[6:12])
        if b is None:
            return IdCheck(v, False, legacy=True, code="birth_date", message_zh="身份证号中的出生日期无效")
        return IdCheck(v, True, legacy=True, code="legacy15",
                       message_zh="15 位旧身份证号，请核对并更新为 18 位",
                       birth_date=b, gender="男" if int(v[14]) % 2 else "女")
    if len(v) != 18:
        return IdCheck(v, False, code="length", message_zh=f"身份证号应为 18 位，实际 {len(v)} 位")
    if not v[:17].isdigit() or not (v[17].isdigit() or v[17] == "X"):
        return IdCheck(v, False, code="chars", message_zh="身份证号前 17 位须为数字，最后一位为数字或 X")
    b = _birth(v[6:14])
    if b is None:
        return IdCheck(v, False, code="birth_date", message_zh=f"身份证号中的出生日期 {v[6:14]} 无效")
    age = (today - b).days / 365.25
    if b > today or age > 100 or age < 14:
        return IdCheck(v, False, code="birth_date",
                       message_zh=f"身份证号中的出生日期 {b.isoformat()} 不合理")
    expect = check_char(v[:17])
    if v[17] != expect:
        return IdCheck(v, False, code="check_digit",
                       message_zh=f"身份证号校验位错误（最后一位应为 {expect}，实际为 {v[17]}）")
    return IdCheck(v, True, birth_date=b, gender="男" if int(v[16]) % 2 else "女")


def mask(id_number: str | None) -> str:
    """``610102199001011234`` → ``6101**********1234``; keeps the first 4 and last 4."""
    if not id_number:
        return ""
    v = id_number.strip()
    if len(v) <= 8:
        return "*" * len(v)
    return v[:4] + "*" * (len(v) - 8) + v[-4:]


def make_valid(first17: str) -> str:
    """Complete 17 digits with their check character (for demo data and tests)."""
    return first17 + check_char(first17)
