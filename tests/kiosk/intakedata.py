"""Archives and photos for the intake tests (and the intake benchmark).

Spec photos are built from the real corpus portrait ``frll_009_neutral_front.jpg`` with
:func:`tests.qc.fixtures.make_spec_photo`, the layout varied per index so every photo has
different bytes.  Layouts were chosen from a measured grid: face width 213–230 px, crown
60–74 px, eye midpoint 234–246 px and a roll of at most 1° pass every check; a face of
195–200 px warns (``face_width``/``eye_distance``); eyes pushed below 300 px fail
(``eye_line``).
"""
from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from tests.conftest import CORPUS
from tests.qc import fixtures as fx

FRLL = CORPUS / "images" / "frll_009_neutral_front.jpg"


def _frac(i: int, step: float) -> float:
    """A low-discrepancy sequence in [0, 1): distinct and evenly spread for every ``i``."""
    return (i * step) % 1.0


def layout(i: int, kind: str = "pass") -> fx.Layout:
    """A layout for photo ``i`` that passes / warns / fails QC (different for every ``i``)."""
    a, b, c, d = _frac(i, 0.6180339887), _frac(i, 0.7548776662), _frac(i, 0.5698402910), _frac(i, 0.4142135624)
    if kind == "warn":
        return fx.Layout(face_width=195 + 5 * a, crown_y=62 + 11 * b, centre_x=236 + 8 * c)
    if kind == "fail":
        return fx.Layout(face_width=246 + 3 * a, crown_y=78 + 4 * b, centre_x=238 + 4 * c)
    return fx.Layout(face_width=213 + 17 * a, crown_y=60 + 14 * b, centre_x=234 + 12 * c, roll_deg=-1 + 2 * d)


def spec_photo(i: int, kind: str = "pass", portrait: Path = FRLL) -> bytes:
    """A 480×640 spec JPEG (30–40 KB, 300 dpi) made from a real portrait."""
    return fx.make_spec_photo(portrait, layout(i, kind))


def _frame():
    """A camera-like frame (1280×720) with the portrait where a studio camera puts it."""
    return fx.camera_frame(FRLL)


def camera_jpeg(quality: int = 92) -> bytes:
    """An original as a studio camera would deliver it (larger than the spec: normalised)."""
    return to_bytes(_frame(), "JPEG", quality=quality)


def to_bytes(rgb, fmt: str, **kw) -> bytes:
    im = rgb if isinstance(rgb, Image.Image) else Image.fromarray(rgb)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_480x640() -> bytes:
    """A spec-size photo saved as PNG (the wrong format, whatever its name)."""
    return to_bytes(Image.open(io.BytesIO(spec_photo(3))), "PNG")


def cmyk_jpeg() -> bytes:
    """A spec-size photo saved as a CMYK JPEG (print workflows do this)."""
    return to_bytes(Image.open(io.BytesIO(spec_photo(4))).convert("CMYK"), "JPEG", quality=90, dpi=(300, 300))


def png16() -> bytes:
    """A 16-bit greyscale PNG at the spec size."""
    a = np.asarray(Image.open(io.BytesIO(spec_photo(5))).convert("L"), dtype=np.uint16) * 257
    return to_bytes(Image.fromarray(a), "PNG")


def rgba_png_original() -> bytes:
    """A camera original with an alpha channel (PNG export from an editing tool)."""
    rgb = _frame()
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return to_bytes(Image.fromarray(rgba, "RGBA"), "PNG")


def huge_png() -> bytes:
    """A real 20000×20000 PNG (1-bit, so it is small on disk: a decompression bomb)."""
    return to_bytes(Image.new("1", (20000, 20000), 0), "PNG")


def heic_original() -> bytes:
    """A phone-style HEIC original (needs pillow-heif to encode)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    return to_bytes(_frame(), "HEIF", quality=95)


class _GbkInfo(zipfile.ZipInfo):
    """Name written as GBK bytes without the UTF-8 flag (Chinese Windows tools)."""

    __slots__ = ("raw",)

    def _encodeFilenameFlags(self):
        return self.raw, self.flag_bits & ~0x800


def make_zip(path: Path, entries, *, gbk=(), stored=()) -> Path:
    """``entries``: ``(name, data)`` or ``(name, data, unix_mode)``; names in ``gbk`` are
    written as GBK bytes; names in ``stored`` are not compressed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for item in entries:
            name, data = item[0], item[1]
            info = (_GbkInfo if name in gbk else zipfile.ZipInfo)(name, date_time=(2026, 6, 1, 9, 0, 0))
            if name in gbk:
                info.raw = name.encode("gbk")
            info.compress_type = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            if len(item) > 2:
                info.external_attr = item[2] << 16
            zf.writestr(info, data)
    return path


SYMLINK = stat.S_IFLNK | 0o777


def nested_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("inner.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9")
    return buf.getvalue()
