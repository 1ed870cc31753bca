"""Capture and normalise: camera sources, raw photo → spec photo, live guidance.

Public API (plain functions and dataclasses; no Flask, no database)::

    normalize(raw, template=None) -> NormalizedPhoto            # raises NormalizeError
    reproduce(original_bytes, transform) -> bytes               # the same JPEG again
    guide(frame, template=None, capture_size=None, tracker=None) -> Hints
    Guide(template=None) -> callable tracker for one preview stream
    make_source(config) / open_source(config) -> Source          # registry by config["kind"]
    Template, Frame, Source, NormalizeError, SourceError, Hint
    read_y4m(path) / write_y4m(path, frames)

Nothing here opens a camera or loads face models at import time (dlib loads on the
first detection, OpenCV devices open in ``OpenCVSource.open``).
"""
from .errors import CaptureError, Hint, NormalizeError, SourceError
from .frames import Frame
from .guide import Guide, GuideParams, Hints, guide
from .normalize import NormalizedPhoto, Transform, normalize, reproduce
from .sources import SOURCE_KINDS, BaseSource, Source, make_source, open_source
from .template import Template, TemplateError
from .y4m import read_y4m, write_y4m

__all__ = ["CaptureError", "Hint", "NormalizeError", "SourceError", "Frame", "Guide", "GuideParams", "Hints",
           "guide", "NormalizedPhoto", "Transform", "normalize", "reproduce", "SOURCE_KINDS", "BaseSource",
           "Source", "make_source", "open_source", "Template", "TemplateError", "read_y4m", "write_y4m"]
