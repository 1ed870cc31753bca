"""Capture and normalise: camera sources, raw photo → spec photo, live guidance.

Public API (plain functions and dataclasses; no Flask, no database)::

    normalize(raw, template=Template()) -> NormalizedPhoto     # raises NormalizeError
    reproduce(original_bytes, transform) -> bytes
    guide(frame, template=Template(), tracker=None) -> Hints
    open_source(config) -> Source                              # registry by config["kind"]
    Template, Frame, Source, NormalizeError, SourceError
    read_y4m(path) / write_y4m(path, frames)

Nothing here opens a camera or loads face models at import time.
"""
from .errors import CaptureError, Hint, NormalizeError, SourceError
from .normalize import NormalizedPhoto, Transform, normalize, reproduce
from .template import Template, TemplateError

__all__ = ["CaptureError", "Hint", "NormalizeError", "SourceError", "NormalizedPhoto", "Transform",
           "normalize", "reproduce", "Template", "TemplateError"]
