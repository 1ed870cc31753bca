"""QC engine: check a photo against a profile (spec ``chsi_xueli_v1``).

Public API::

    qc.check_photo(photo, profile="chsi_xueli_v1", reference=None) -> qc.Report
    qc.load_profile(name_or_path) -> qc.Profile
    qc.annotate(photo_or_context, report=None, profile=...) -> PNG bytes
    qc.PhotoContext, qc.Report, qc.CheckResult, qc.Status

Importing ``qc`` is cheap: no OpenCV, dlib or face models load until a photo is checked.
``qc`` never imports Flask, SQLAlchemy or ``kiosk``.
"""
from __future__ import annotations

from typing import Any

from .annotate import annotate  # PIL + numpy only; binds the function over the submodule name
from .types import CheckResult, Report, Status, fold_verdict

__all__ = ["check_photo", "load_profile", "annotate", "PhotoContext", "Profile", "ProfileError",
           "Report", "CheckResult", "Status", "fold_verdict"]


def check_photo(photo: Any, profile: Any = "chsi_xueli_v1", reference: Any = None, *, name: str | None = None) -> Report:
    """Check one photo; see :func:`qc.runner.check_photo`."""
    from .runner import check_photo as _run  # noqa: PLC0415

    return _run(photo, profile, reference, name=name)


def load_profile(profile: Any = "chsi_xueli_v1"):
    """Load a profile by name or path; see :func:`qc.profile.load_profile`."""
    from .profile import load_profile as _load  # noqa: PLC0415

    return _load(profile)


def __getattr__(name: str):
    if name == "PhotoContext":
        from .context import PhotoContext  # noqa: PLC0415

        return PhotoContext
    if name in ("Profile", "ProfileError"):
        from . import profile as _p  # noqa: PLC0415

        return getattr(_p, name)
    raise AttributeError(name)
