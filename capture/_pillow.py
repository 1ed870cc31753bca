"""Keep Pillow strict about truncated files.

``face_recognition/api.py`` runs ``ImageFile.LOAD_TRUNCATED_IMAGES = True`` when it is
imported (``qc.faces.models()`` imports it on the first detection).  From then on Pillow
decodes a half-written JPEG without complaint, filling the missing part with grey — the
hot folder would pick up partial files and the normaliser would frame half a picture.

:func:`strict_truncation` restores Pillow's default; capture calls it before every decode.
The proper fix is in ``qc/faces.py`` (restore the flag right after that import); until
then this keeps ``capture`` correct whatever ran before it.
"""
from __future__ import annotations

from PIL import ImageFile


def strict_truncation() -> None:
    """Make Pillow raise on truncated image data again (its default)."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
