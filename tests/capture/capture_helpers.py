"""Helpers for the capture tests: real portraits, derived frames, independent measurement.

Derived frames never invent a face: "widened" frames extend a plain studio backdrop by
replicating the picture's own border rows/columns (what the camera would have seen had
it been framed a little wider); the face pixels are untouched.
"""
from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
from PIL import Image

#: IJG base luminance quantisation table (natural order), for checking the JPEG quality.
IJG_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
            14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
            18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]

#: Spec §3 bands the outputs are measured against (not the normaliser's own numbers).
SPEC = {"crown": (50, 110), "eye": (200, 300), "face_width": (207, 300), "centre": (216, 264),
        "eye_distance_min": 90, "roll_max": 2.0}


def ijg_table(quality: int) -> list[int]:
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, int((b * scale + 50) // 100))) for b in IJG_LUMA]


@functools.lru_cache(maxsize=None)
def _rgb_cached(path: str) -> np.ndarray:
    from qc.context import decode

    a = decode(Path(path).read_bytes())[1]
    a.setflags(write=False)
    return a


def load_rgb(path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of an image file (EXIF applied), cached per session."""
    return _rgb_cached(str(path))


@functools.lru_cache(maxsize=None)
def _jaw(path: str) -> float:
    from qc.context import PhotoContext

    ctx = PhotoContext(load_rgb(path))
    assert ctx.face is not None, f"expected one face in {path}"
    return ctx.face.jaw_width


def widened(path, top: float = 0.6, bottom: float = 0.5, side: float = 0.4) -> np.ndarray:
    """The portrait with its backdrop extended by ``top/bottom/side × jaw width`` pixels
    (edge replication: a wider framing of the same plain backdrop)."""
    import cv2

    rgb = load_rgb(path)
    j = _jaw(str(path))
    return cv2.copyMakeBorder(np.ascontiguousarray(rgb), int(top * j), int(bottom * j), int(side * j), int(side * j),
                              cv2.BORDER_REPLICATE)


def jpeg_markers(data: bytes) -> list[tuple[int, bytes]]:
    """``(marker, payload)`` for every segment before the scan data."""
    assert data[:2] == b"\xff\xd8"
    out, i = [], 2
    while i < len(data):
        assert data[i] == 0xFF, f"bad marker at {i}"
        m = data[i + 1]
        length = int.from_bytes(data[i + 2:i + 4], "big")
        out.append((m, data[i + 4:i + 2 + length]))
        if m == 0xDA:
            break
        i += 2 + length
    return out


def measure_output(jpeg: bytes) -> dict:
    """Measure a normalised JPEG independently of the normaliser: decode it, detect the
    face again with :mod:`qc.faces` (through a fresh ``PhotoContext`` with the default QC
    detection settings), read the crown from the person mask, and read the file facts."""
    from qc.context import PhotoContext

    ctx = PhotoContext(jpeg)
    facts = ctx.facts
    im = Image.open(io.BytesIO(jpeg))
    markers = jpeg_markers(jpeg)
    out = {"width": ctx.width, "height": ctx.height, "bytes": len(jpeg), "format": facts.format,
           "mode": facts.mode, "dpi": facts.dpi, "jfif_unit": facts.jfif_unit, "progressive": facts.progressive,
           "has_exif": facts.has_exif, "has_icc": facts.has_icc, "subsampling": facts.subsampling,
           "luma_table": list(im.quantization[0]), "markers": [m for m, _ in markers],
           "faces": len(ctx.faces)}
    f = ctx.face
    if f is not None:
        out.update(eye_y=float(f.eye_mid[1]), centre_x=float(f.eye_mid[0]), face_width=f.jaw_width,
                   eye_distance=f.eye_distance, roll=f.roll_deg, crown_y=ctx.crown_y, chin_y=float(f.chin[1]),
                   seg_reliable=ctx.segmentation.reliable)
    return out


def assert_spec_photo(m: dict, *, size_target: bool = True) -> None:
    """Assert the file rules (§2) and the composition bands (§3) on a measurement."""
    assert (m["width"], m["height"]) == (480, 640)
    assert m["format"] == "JPEG" and m["mode"] == "RGB"
    assert m["dpi"] == (300.0, 300.0) and m["jfif_unit"] == 1
    assert not m["progressive"]
    assert 0xC0 in m["markers"], "baseline SOF0 expected"
    assert not ({0xC1, 0xC2} & set(m["markers"]))
    assert 0xE1 not in m["markers"], "no EXIF/XMP (APP1)"
    assert 0xFE not in m["markers"], "no comment"
    assert 0xE2 not in m["markers"], "no ICC profile (APP2)"
    assert not m["has_exif"] and not m["has_icc"]
    assert 30 * 1024 <= m["bytes"] <= 60_000
    if size_target:
        assert m["bytes"] <= 40_000
    assert m["faces"] == 1
    assert SPEC["eye"][0] <= m["eye_y"] <= SPEC["eye"][1], m
    assert m["crown_y"] is not None and SPEC["crown"][0] <= m["crown_y"] <= SPEC["crown"][1], m
    assert SPEC["face_width"][0] <= m["face_width"] <= SPEC["face_width"][1], m
    assert SPEC["centre"][0] <= m["centre_x"] <= SPEC["centre"][1], m
    assert m["eye_distance"] >= SPEC["eye_distance_min"], m
    assert abs(m["roll"]) <= SPEC["roll_max"], m
    assert m["chin_y"] <= 512, m
