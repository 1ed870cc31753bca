"""Run a profile's checks on one photo: :func:`check_photo`.

Detect once: one :class:`~qc.context.PhotoContext` is shared by every check; each check
reads it.  A check that raises is recorded ``not_assessed`` with code
``<check>.error`` and the others still run.  Checks that need decoded pixels are
``not_assessed`` (``<check>.undecodable``) when the file does not decode; checks that
need a face are ``not_assessed`` (``<check>.no_single_face``) unless exactly one face
counts.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any

import numpy as np

from .checks import BY_NAME
from .checks._common import not_assessed
from .context import DecodeError, PhotoContext
from .profile import DEFAULT_PROFILE, Profile, load_profile
from .types import CheckResult, Report, Status

log = logging.getLogger(__name__)

Reference = "bytes | str | os.PathLike | PhotoContext | np.ndarray | None"


def make_context(source: Any, profile: Profile, name: str | None = None) -> PhotoContext:
    """A :class:`PhotoContext` for ``source`` with the profile's detection/segmentation parameters."""
    if isinstance(source, PhotoContext):
        return source
    return PhotoContext(source, detection=profile.detection, segmentation_params=profile.segmentation, name=name)


def reference_encoding(reference: Any, profile: Profile) -> tuple[np.ndarray | None, tuple[str, str] | None]:
    """``(encoding, None)`` or ``(None, (message_zh, message_en))`` for a reference.

    ``reference`` may be a 128-d encoding, a :class:`PhotoContext`, encoded bytes, a
    path, or an ``(H, W, 3)`` uint8 array.
    """
    if reference is None:
        return None, None
    if isinstance(reference, np.ndarray) and reference.shape == (128,):
        return reference.astype(np.float32), None
    if isinstance(reference, (list, tuple)) and len(reference) == 128:
        return np.asarray(reference, dtype=np.float32), None
    try:
        ctx = make_context(reference, profile)
        if ctx.decode_error is not None:
            e = ctx.decode_error
            return None, (e.message_zh, e.message_en)
        n = len(ctx.faces)
        if n != 1:
            return None, (f"参考照片中检测到 {n} 张人脸，需要恰好 1 张", f"{n} faces in the reference photo, exactly one needed")
        return ctx.encoding, None
    except (OSError, TypeError, ValueError) as e:
        return None, (f"无法读取参考照片（{e}）", f"cannot read the reference photo ({e})")


def run_checks(ctx: PhotoContext, profile: Profile) -> list[CheckResult]:
    """Every enabled check of ``profile`` on ``ctx``, in registry order."""
    out: list[CheckResult] = []
    undecodable = ctx.decode_error is not None
    for spec in profile.checks:
        if spec.level == "off":
            continue
        mod = BY_NAME[spec.name]
        label = mod.LABEL_ZH
        if "pixels" in mod.REQUIRES and undecodable:
            out.append(not_assessed(spec.name, "undecodable", "图像无法解码，未检查", "image does not decode: not checked",
                                    label=label))
            continue
        try:
            if "face" in mod.REQUIRES and ctx.face is None:
                n = len(ctx.faces)
                out.append(not_assessed(spec.name, "no_single_face",
                                        f"需要恰好一张人脸（检测到 {n} 张），未检查",
                                        f"needs exactly one face ({n} found): not checked", label=label))
                continue
            r = mod.check(ctx, spec.thresholds)
        except Exception as e:  # noqa: BLE001 - a crashing check must not sink the report
            log.exception("check %s crashed", spec.name)
            r = not_assessed(spec.name, "error", f"检查出错（{type(e).__name__}），未能评估",
                             f"check crashed ({type(e).__name__}: {e}); not assessed", label=label)
        if spec.level == "warn" and r.status is Status.FAIL:
            r = CheckResult(**{**r.__dict__, "status": Status.WARN})
        out.append(r)
    return out


def geometry(ctx: PhotoContext) -> dict[str, Any]:
    """Plain-data geometry of a checked photo for the annotated view (px of the photo)."""
    g: dict[str, Any] = {"faces": []}
    if ctx.decode_error is not None:
        return g
    try:
        g["faces"] = [[f.box.left, f.box.top, f.box.right, f.box.bottom] for f in ctx.faces]
        f = ctx.face
        if f is not None:
            lm = f.landmarks
            g["eye_left"] = [round(float(v), 1) for v in f.eye_left]
            g["eye_right"] = [round(float(v), 1) for v in f.eye_right]
            g["jaw_left"] = [round(float(v), 1) for v in lm[0]]
            g["jaw_right"] = [round(float(v), 1) for v in lm[16]]
            g["chin"] = [round(float(v), 1) for v in f.chin]
            if "segmentation" in ctx.__dict__:
                g["crown_y"] = ctx.crown_y
                g["segmentation_reliable"] = bool(ctx.segmentation.reliable)
        g["detection_passes"] = ctx.detection_passes
    except Exception:  # noqa: BLE001 - geometry is decoration
        log.exception("geometry failed")
    return g


def check_photo(photo: Any, profile: "str | os.PathLike | Profile" = DEFAULT_PROFILE, reference: Any = None,
                *, name: str | None = None) -> Report:
    """Check one photo against a profile.

    Parameters
    ----------
    photo : bytes | str | os.PathLike | file-like | PhotoContext | numpy.ndarray
        The photo.  Bytes or a path keep the file facts (format, dpi, size); an
        ``(H, W, 3)`` uint8 RGB array is checked for its pixels only.  A
        :class:`PhotoContext` is used as it is (its detection parameters win).
    profile : str | os.PathLike | Profile
        Profile name (``qc/profiles/<name>.toml``), path, or loaded profile.
    reference : bytes | str | os.PathLike | PhotoContext | numpy.ndarray, optional
        The student's reference photo, or its 128-d encoding, for ``identity_match``.
    name : str, optional
        File name for the report (defaults to the path).

    Returns
    -------
    Report
        Never raises for a bad photo (an unreadable file gives ``jpeg_format`` failed);
        raises ``FileNotFoundError`` for a missing path and
        :class:`qc.profile.ProfileError` for a bad profile.
    """
    t0 = time.perf_counter()
    prof = load_profile(profile)
    ctx = make_context(photo, prof, name=name)
    enc, err = reference_encoding(reference, prof)
    ctx.reference_encoding = enc
    ctx.reference_error = err
    checks = run_checks(ctx, prof)
    w = h = None
    if ctx.decode_error is None:
        w, h = ctx.width, ctx.height
    report = Report(profile=prof.name, profile_version=prof.version, checks=checks,
                    elapsed_ms=(time.perf_counter() - t0) * 1000.0, file=name or ctx.name,
                    sha256=ctx.sha256 or None, width=w, height=h,
                    extra={"geometry": geometry(ctx)})
    return report


__all__ = ["check_photo", "make_context", "reference_encoding", "run_checks", "DecodeError"]
