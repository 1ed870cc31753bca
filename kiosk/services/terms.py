"""Graduation terms (batches) and their review windows."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Term

TERM_RE = re.compile(r"^(\d{4})-(01|07)$")


class TermError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def default_window(code: str) -> tuple[dt.date, dt.date]:
    """Review window per the procedure (第九条): students who qualify by January are
    reviewed 15 Feb–15 Jun, by July 1 Aug–30 Nov of the same year."""
    m = TERM_RE.match(code)
    if not m:
        raise TermError("term_code", f"毕业批次代码应形如 2027-01 或 2027-07，收到 {code!r}")
    year = int(m.group(1))
    if m.group(2) == "01":
        return dt.date(year, 2, 15), dt.date(year, 6, 15)
    return dt.date(year, 8, 1), dt.date(year, 11, 30)


def term_name(code: str) -> str:
    year, month = code.split("-")
    return f"{year}年{'春季（1月）' if month == '01' else '秋季（7月）'}毕业"


def get_term(session: Session, code: str) -> Term | None:
    return session.scalar(select(Term).where(Term.code == code))


def ensure_term(session: Session, code: str, *, name: str | None = None,
                review_start: dt.date | None = None, review_end: dt.date | None = None,
                confirm_deadline: dt.date | None = None) -> Term:
    """The term with ``code``, created with the default review window if missing."""
    term = get_term(session, code)
    if term is None:
        start, end = default_window(code)
        term = Term(code=code, name=name or term_name(code), review_start=review_start or start,
                    review_end=review_end or end, confirm_deadline=confirm_deadline)
        session.add(term)
        session.flush()
    return term


def days_left(term: Term, today: dt.date | None = None) -> int | None:
    if term.review_end is None:
        return None
    return (term.review_end - (today or dt.date.today())).days
