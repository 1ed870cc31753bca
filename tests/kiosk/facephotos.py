"""Real-face spec photos for identity and duplicate tests (built once per test session).

Everything comes from the shared corpus (``tests.conftest.CORPUS``): spec photos are
480×640 crops of real portraits (``tests.qc.fixtures.spec_crop``), copies are the same
photograph re-encoded / rescaled the way files get copied.
"""
from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image

from tests.conftest import CORPUS


def corpus(name: str) -> bytes:
    return (CORPUS / "images" / name).read_bytes()


@lru_cache(maxsize=None)
def spec(name: str) -> bytes:
    """A 480×640 spec-style JPEG of the corpus portrait ``name``."""
    from tests.qc.fixtures import spec_crop

    return spec_crop(CORPUS / "images" / name)


def recoded(data: bytes, *, scale: float = 1.0, quality: int = 70) -> bytes:
    """The same photograph rescaled (and back to its size) and re-encoded: another file."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    w, h = im.size
    if scale != 1.0:
        im = im.resize((round(w * scale), round(h * scale)), Image.LANCZOS).resize((w, h), Image.BICUBIC)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, dpi=(300, 300))
    return buf.getvalue()


def mirrored(data: bytes) -> bytes:
    im = Image.open(io.BytesIO(data)).convert("RGB")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(np.asarray(im)[:, ::-1])).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def encoding_of(data: bytes) -> np.ndarray:
    from qc.runner import make_context

    import qc

    ctx = make_context(data, qc.load_profile())
    assert ctx.face is not None
    return ctx.encoding
