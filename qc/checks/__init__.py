"""The QC checks, one module per check (spec §5), in report order.

Each module has ``NAME`` (the stable identifier), ``LABEL_ZH`` (upstream rejection
label it pre-flights, or ``None``), ``REQUIRES`` (``"pixels"``: needs a decoded image;
``"face"``: needs exactly one face), a frozen ``Thresholds`` dataclass (its fields are
the keys of the profile section ``[checks.<NAME>]``) and a pure
``check(ctx, thresholds) -> CheckResult``.  The registry is this explicit tuple.
"""
from __future__ import annotations

from . import (
    background_colour,
    background_uniformity,
    border,
    clothing_contrast,
    colour_mode,
    dimensions,
    dpi,
    exposure,
    eye_distance,
    eye_line,
    eye_roll,
    eyes_open,
    face_count,
    face_width,
    file_size,
    glasses_glare,
    head_pose,
    head_top,
    highlights,
    horizontal_centre,
    identity_match,
    jpeg_format,
    jpeg_quality,
    lighting_symmetry,
    mouth_closed,
    natural_colour,
    sharpness,
    shoulders,
    side_margins,
)

REGISTRY = (
    jpeg_format,
    dimensions,
    colour_mode,
    dpi,
    jpeg_quality,
    file_size,
    border,
    face_count,
    eye_line,
    head_top,
    face_width,
    eye_distance,
    horizontal_centre,
    eye_roll,
    head_pose,
    shoulders,
    side_margins,
    background_colour,
    background_uniformity,
    clothing_contrast,
    sharpness,
    exposure,
    lighting_symmetry,
    highlights,
    natural_colour,
    eyes_open,
    mouth_closed,
    glasses_glare,
    identity_match,
)

BY_NAME = {m.NAME: m for m in REGISTRY}
NAMES = tuple(BY_NAME)

__all__ = ["REGISTRY", "BY_NAME", "NAMES"]
