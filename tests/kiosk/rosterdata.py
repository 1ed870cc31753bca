"""Roster rows for tests: valid 身份证号 with real check digits."""
from __future__ import annotations

import csv
import datetime as dt
import io

from kiosk.idcard import make_valid

HEADER = ["学号", "姓名", "性别", "身份证号", "层次", "专业", "学习中心", "班级", "入学日期", "预计毕业日期"]


def id_number(i: int) -> str:
    """A distinct valid 18-character number for each i (birth 1975–2002, odd sequence → 男)."""
    birth = dt.date(1975, 1, 1) + dt.timedelta(days=i % 10000)
    seq = (i // 10000) * 2 + 1
    return make_valid(f"610113{birth:%Y%m%d}{seq:03d}")


def person(i: int, *, xh_prefix: str = "0061001", centre: str = "雁塔学习中心") -> list[str]:
    idn = id_number(i)
    return [f"{xh_prefix}{i:06d}", f"学生{i}", "男", idn, "本科", "行政管理", centre, "行管2024秋",
            "2024-09-01", "2027-07-01"]


def rows(n: int, **kw) -> list[list[str]]:
    return [person(i, **kw) for i in range(n)]


def csv_bytes(header: list[str], body: list[list[str]], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(body)
    return buf.getvalue().encode(encoding)
