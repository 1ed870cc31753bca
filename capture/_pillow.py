"""Keep Pillow strict about truncated files.

``ImageFile.LOAD_TRUNCATED_IMAGES`` is process-wide: any library may switch it on
(``face_recognition/api.py`` does on import; ``qc.faces.models()`` restores it).  With it
on, Pillow decodes a half-written JPEG with grey fill — the hot folder would pick up
partial files and the normaliser would frame half a picture.

:func:`strict_truncation` restores Pillow's default before capture decodes, so capture
stays correct whatever another library did.
"""
from __future__ import annotations

from PIL import ImageFile


def strict_truncation() -> None:
    """Make Pillow raise on truncated image data again (its default)."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
