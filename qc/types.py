"""Plain result types shared by the QC engine, capture and the kiosk.

Nothing here imports Flask, a database or a vision library.
"""
from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    """Outcome of one check (spec §5)."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    NOT_ASSESSED = "not_assessed"

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.value


#: Order of severity used to fold check statuses into a verdict.
_SEVERITY = {Status.PASS: 0, Status.NOT_ASSESSED: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True)
class CheckResult:
    """One check's result, keeping the numbers.

    Attributes
    ----------
    check : str
        Stable check name (``eye_line``, ``head_top``...).
    status : Status
    measured : float | int | str | dict | None
        Measured value in the check's native unit (``unit``).
    expected : str
        The allowed range as text, e.g. ``"50–110 px"``.
    code : str
        Reason code, ``<check>.<reason>`` (``head_top.too_low``); ``<check>.ok`` on pass.
    message_zh, message_en : str
        What to change at the camera; empty on pass.
    label_zh : str | None
        Upstream rejection label this check pre-flights (spec §5), if any.
    unit : str | None
        Unit of ``measured`` (``px``, ``deg``, ``KB``, ``ratio``...).
    region : tuple[int, int, int, int] | None
        ``(x0, y0, x1, y1)`` on the checked image to highlight when the check does not pass.
    """

    check: str
    status: Status
    measured: Any = None
    expected: str = ""
    code: str = ""
    message_zh: str = ""
    message_en: str = ""
    label_zh: str | None = None
    unit: str | None = None
    region: tuple[int, int, int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        # Written out rather than dataclasses.asdict (same keys, same order): asdict's
        # recursive copy cost 90 µs per check, 2.6 ms per photo — serial time in a bulk
        # intake's main process.
        m = self.measured
        if isinstance(m, (dict, list, tuple)):
            m = copy.deepcopy(m)
        return {"check": self.check, "status": self.status.value, "measured": m, "expected": self.expected,
                "code": self.code, "message_zh": self.message_zh, "message_en": self.message_en,
                "label_zh": self.label_zh, "unit": self.unit,
                "region": list(self.region) if self.region is not None else None}


def fold_verdict(statuses) -> Status:
    """Verdict of a photo: fail if any check fails, else warn if any warns, else pass."""
    worst = Status.PASS
    for s in statuses:
        if _SEVERITY[s] > _SEVERITY[worst]:
            worst = s
    return worst


@dataclass
class Report:
    """The QC report of one photo against one profile."""

    profile: str
    profile_version: str
    checks: list[CheckResult]
    elapsed_ms: float = 0.0
    file: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> Status:
        return fold_verdict(c.status for c in self.checks)

    def by_name(self) -> dict[str, CheckResult]:
        return {c.check: c for c in self.checks}

    def __getitem__(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.check == name:
                return c
        raise KeyError(name)

    def problems(self) -> list[CheckResult]:
        """Checks that did not pass (warn and fail first, then not_assessed)."""
        order = {Status.FAIL: 0, Status.WARN: 1, Status.NOT_ASSESSED: 2}
        return sorted((c for c in self.checks if c.status is not Status.PASS), key=lambda c: order[c.status])

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "profile": self.profile,
            "profile_version": self.profile_version,
            "verdict": self.verdict.value,
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "checks": [c.to_dict() for c in self.checks],
            "elapsed_ms": round(self.elapsed_ms, 1),
        }
