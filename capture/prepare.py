"""One received photo → a checked spec photo, the shared path of the station and intake.

``prepare(original, ...)`` is pure (bytes in, plain data out: no database, no Flask), so
the kiosk runs it in the request for a station capture and in worker processes for bulk
intake, and records the result itself.

* ``mode="normalize"`` (a camera frame): always frame with :func:`capture.normalize`.
* ``mode="auto"`` (an imaging unit's file): a file that already decodes to the canvas
  size is checked as it is — its bytes are preserved — anything else is normalised
  first (``Prepared.normalized`` says which).
* ``mode="as_is"``: check the bytes as they are, whatever their size.

A frame that cannot be framed (no face, too small, head cut off…) gives
``Prepared.refusal`` with the normaliser's code, Chinese/English reason and hints; no
spec photo and no report.  The face encoding and face hash (for the duplicate search)
are computed only when asked for, reusing the encoding identity_match already computed.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import qc
from qc.runner import make_context

from .errors import CaptureError
from .normalize import normalize
from .template import Template

MODES = ("normalize", "auto", "as_is")


@dataclass
class Prepared:
    """What :func:`prepare` made of one photo (picklable: crosses process boundaries)."""

    original_sha256: str
    spec: bytes | None = None
    normalized: bool = False
    transform: dict[str, Any] | None = None
    report: qc.Report | None = None
    refusal: dict[str, Any] | None = None      # {"code", "message_zh", "message_en", "hints": [...]}
    warnings: list[dict[str, Any]] = field(default_factory=list)
    encoding: np.ndarray | None = None
    phash: int | None = None                    # 64-bit face hash (qc.phash), with the encoding
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``pass`` / ``warn`` / ``fail`` from QC, or ``unusable`` when nothing could be checked."""
        return self.report.verdict.value if self.report is not None else "unusable"

    @property
    def spec_sha256(self) -> str | None:
        return hashlib.sha256(self.spec).hexdigest() if self.spec is not None else None


def _refusal(e: CaptureError) -> dict[str, Any]:
    d = e.to_dict()
    return {"code": d.get("code"), "message_zh": d.get("message_zh"), "message_en": d.get("message_en"),
            "hints": d.get("hints", [])}


def prepare(original: bytes, *, profile: str | qc.Profile = "chsi_xueli_v1", reference: Any = None,
            mode: str = "auto", want_encoding: bool = False, template: Template | None = None,
            name: str | None = None) -> Prepared:
    """Normalise (when needed) and check one photo.  Never raises for bad input."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    prof = qc.load_profile(profile) if isinstance(profile, str) else profile
    out = Prepared(original_sha256=hashlib.sha256(original).hexdigest())
    t0 = time.perf_counter()

    as_is = mode == "as_is"
    if mode == "auto":
        # The header says the size (no pixel decode: QC decodes once, right after).
        size = _header_size(original)
        as_is = size is None or size == (prof.template.width, prof.template.height)
    if as_is:
        spec = original
    else:
        try:
            n = normalize(original, template or Template.from_profile(prof), name=name)
        except CaptureError as e:
            if mode == "auto" and e.code == "undecodable" and e.details.get("decode_code"):
                # A header that parses over pixels that do not (truncated…): QC
                # reports it, with the decoder's reason, as jpeg_format.
                return _check(out, original, prof, reference, want_encoding, name, t0)
            out.refusal = _refusal(e)
            out.timings_ms["normalize"] = (time.perf_counter() - t0) * 1000
            return out
        spec = n.jpeg
        out.normalized = True
        out.transform = n.transform.to_dict()
        out.warnings = [h.to_dict() for h in n.warnings]
    return _check(out, spec, prof, reference, want_encoding, name, t0)


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Width × height after EXIF orientation from the file header, or ``None`` when the
    header does not parse (or announces a decompression bomb): QC then reports why."""
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    from qc.context import MAX_PIXELS, heif_available, is_heif  # noqa: PLC0415

    if is_heif(data) and not heif_available():
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                return None
            exif = im.getexif()
            if exif and exif.get(0x0112) in (5, 6, 7, 8):
                w, h = h, w
            return w, h
    except Exception:  # noqa: BLE001 - any header the decoder cannot parse
        return None


def _check(out: Prepared, spec: bytes, prof, reference, want_encoding: bool, name, t0: float) -> Prepared:
    out.spec = spec
    t1 = time.perf_counter()
    out.timings_ms["normalize"] = (t1 - t0) * 1000

    ctx = make_context(spec, prof, name=name)
    out.report = qc.check_photo(ctx, prof, reference=reference, name=name)
    t2 = time.perf_counter()
    out.timings_ms["qc"] = (t2 - t1) * 1000
    if want_encoding and ctx.decode_error is None and ctx.face is not None:
        from qc.phash import face_phash  # noqa: PLC0415

        out.encoding = ctx.encoding
        try:
            out.phash = face_phash(ctx.rgb, ctx.face)
        except ValueError:
            out.phash = None
        out.timings_ms["encoding"] = (time.perf_counter() - t2) * 1000
    return out
