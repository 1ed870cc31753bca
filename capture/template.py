"""The output canvas and where the face should land on it (spec §2–§3).

A :class:`Template` is a frozen set of numbers in **output pixels** (the 480×640 canvas,
origin top-left, ``y`` down).  The normaliser aims for the *target* bands
(``crown_band``, ``eye_band``, ``face_width_target``) and never leaves the *limits*
(the spec's own pass bands, shrunk by ``safety_margin`` so that a re-measurement by the
QC engine, which detects again on the output, still passes).

The QC profile carries a ``[template]`` section with the same keys; build a template
from it with :meth:`Template.from_mapping` (unknown keys are an error that names the key).

File size is given in KB.  The spec does not say whether a KB is 1000 or 1024 bytes, so
the encoder aims inside both readings: at least ``target_size_kb[0] × 1024`` bytes and at
most ``target_size_kb[1] × 1000`` bytes (``30 720–40 000`` by default), and accepts at most
``max_size_kb × 1000`` bytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

__all__ = ["Template", "TemplateError"]


class TemplateError(ValueError):
    """A template mapping has an unknown key, a missing value or an impossible number."""


_PAIRS = {"crown_band", "eye_band", "face_width_band", "limit_crown", "limit_eye", "limit_centre",
          "limit_face_width", "target_size_kb"}
_INTS = {"width", "height", "jpeg_quality_min", "jpeg_quality_max", "dpi"}
_STRS = {"subsampling"}


@dataclass(frozen=True)
class Template:
    """Output canvas and composition targets, all in output pixels unless stated.

    Attributes
    ----------
    width, height : int
        Canvas size (480 × 640; an array of shape ``(640, 480, 3)``).
    crown_band : (float, float)
        Preferred rows for the top of the hair (spec target ≈ 80; spec limit 50–110).
    eye_band : (float, float)
        Preferred rows for the eye-centre line (spec target ≈ 250; limit 200–300).
    face_width_target : float
        Preferred cheek-to-cheek width (jaw landmarks 0–16).
    face_width_band : (float, float)
        Face width that passes the QC ``face_width`` check (207–300); the normaliser
        tries hard to stay inside it and warns when it cannot.
    centre_x : float
        Column for the eye midpoint.
    min_eye_distance : float
        Minimum distance between the eye centres on the output (ICAO/ISO 90 px).
    limit_crown, limit_eye, limit_centre, limit_face_width : (float, float)
        The spec's hard bands (§3).  The normaliser never plans outside them (minus
        ``safety_margin``); a frame that cannot be framed inside them is refused.
    chin_max : float
        Lowest allowed row for the chin (spec: chin above 512 px).
    safety_margin : float
        Pixels kept inside every hard limit to absorb re-measurement noise.
    max_roll_deg : float
        Largest eye-line tilt (degrees) the normaliser levels by rotating; more is refused.
    max_upscale : float
        Largest enlargement of the original allowed (1.0 = never enlarge).  Default 1.25:
        a photo is enlarged by at most 25 % to bring the face width into its band, and a
        face whose eyes are closer than ``min_eye_distance / max_upscale`` (72 px) in
        the original is refused as too small.  See ``capture.normalize`` for why.
    jpeg_quality_min, jpeg_quality_max : int
        IJG quality search range (spec floor 60).
    target_size_kb : (float, float)
        File size to aim for (30–40 KB).
    max_size_kb : float
        Largest acceptable file (60 KB).
    dpi : int
        JFIF density written into the file (300).
    subsampling : str
        Chroma subsampling, ``"4:2:0"`` (default) or ``"4:4:4"``.
    """

    width: int = 480
    height: int = 640
    crown_band: tuple[float, float] = (64.0, 80.0)
    eye_band: tuple[float, float] = (250.0, 275.0)
    face_width_target: float = 240.0
    face_width_band: tuple[float, float] = (207.0, 300.0)
    centre_x: float = 240.0
    min_eye_distance: float = 90.0
    limit_crown: tuple[float, float] = (50.0, 110.0)
    limit_eye: tuple[float, float] = (200.0, 300.0)
    limit_centre: tuple[float, float] = (216.0, 264.0)
    limit_face_width: tuple[float, float] = (180.0, 300.0)
    chin_max: float = 512.0
    safety_margin: float = 6.0
    max_roll_deg: float = 10.0
    max_upscale: float = 1.25
    jpeg_quality_min: int = 60
    jpeg_quality_max: int = 100
    target_size_kb: tuple[float, float] = (30.0, 40.0)
    max_size_kb: float = 60.0
    dpi: int = 300
    subsampling: str = "4:2:0"

    def __post_init__(self) -> None:
        problems = []
        if self.width <= 0 or self.height <= 0:
            problems.append("width/height must be positive")
        for name in _PAIRS:
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
                problems.append(f"{name} must be (low, high) with low <= high, got {(lo, hi)}")
        if not (self.limit_crown[0] <= self.crown_band[0] and self.crown_band[1] <= self.limit_crown[1]):
            problems.append("crown_band must lie inside limit_crown")
        if not (self.limit_eye[0] <= self.eye_band[0] and self.eye_band[1] <= self.limit_eye[1]):
            problems.append("eye_band must lie inside limit_eye")
        if not 0 <= self.crown_band[0] < self.eye_band[0] < self.height:
            problems.append("crown_band must lie above eye_band inside the canvas")
        if not 0 < self.centre_x < self.width:
            problems.append("centre_x must lie inside the canvas")
        if self.max_upscale < 1.0:
            problems.append("max_upscale must be >= 1.0")
        if not 0 <= self.max_roll_deg <= 45:
            problems.append("max_roll_deg must be within 0–45")
        if not 1 <= self.jpeg_quality_min <= self.jpeg_quality_max <= 100:
            problems.append("need 1 <= jpeg_quality_min <= jpeg_quality_max <= 100")
        if self.subsampling not in ("4:2:0", "4:4:4"):
            problems.append("subsampling must be '4:2:0' or '4:4:4'")
        if self.safety_margin < 0:
            problems.append("safety_margin must be >= 0")
        if problems:
            raise TemplateError("; ".join(problems))

    # ------------------------------------------------------------------ derived
    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return (self.width, self.height)

    @property
    def target_bytes(self) -> tuple[int, int]:
        """Aimed file size in bytes: ``(low KB × 1024, high KB × 1000)``."""
        return (int(math.ceil(self.target_size_kb[0] * 1024)), int(self.target_size_kb[1] * 1000))

    @property
    def max_bytes(self) -> int:
        """Largest accepted file size in bytes (``max_size_kb × 1000``)."""
        return int(self.max_size_kb * 1000)

    def hard(self, name: str) -> tuple[float, float]:
        """A spec limit band shrunk by ``safety_margin`` (``name`` in crown, eye, centre, face_width)."""
        lo, hi = getattr(self, f"limit_{name}")
        m = self.safety_margin
        return (lo + m, hi - m)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> "Template":
        """Build a template from a mapping (e.g. the profile's ``[template]`` table).

        Missing keys keep their defaults; an unknown key raises :class:`TemplateError`
        naming it; pairs may be given as lists.
        """
        mapping = dict(mapping or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise TemplateError(f"unknown template key(s): {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in mapping.items():
            try:
                if key in _PAIRS:
                    if isinstance(value, (str, bytes)) or len(value) != 2:
                        raise TypeError("expected a pair")
                    kwargs[key] = (float(value[0]), float(value[1]))
                elif key in _INTS:
                    if isinstance(value, bool) or float(value) != int(value):
                        raise TypeError("expected an integer")
                    kwargs[key] = int(value)
                elif key in _STRS:
                    if not isinstance(value, str):
                        raise TypeError("expected a string")
                    kwargs[key] = value
                else:
                    if isinstance(value, bool):
                        raise TypeError("expected a number")
                    kwargs[key] = float(value)
            except (TypeError, ValueError) as e:
                raise TemplateError(f"template key {key!r}: {e} (got {value!r})") from None
        return cls(**kwargs)

    @classmethod
    def from_profile(cls, profile: Any, **overrides: Any) -> "Template":
        """The template a QC profile asks for: its ``[template]`` targets, and the hard
        limits from the thresholds of the checks that will judge the result
        (``head_top``, ``eye_line``, ``horizontal_centre``, ``face_width``,
        ``eye_distance``, ``shoulders``, ``file_size``).  ``profile`` is a
        :class:`qc.profile.Profile` (or its name)."""
        if isinstance(profile, str):
            from qc import load_profile  # noqa: PLC0415

            profile = load_profile(profile)
        pt = profile.template
        th = profile.thresholds
        head, eye, centre = th("head_top"), th("eye_line"), th("horizontal_centre")
        width, eyes, shoulders, size = th("face_width"), th("eye_distance"), th("shoulders"), th("file_size")
        mapping: dict[str, Any] = {
            "width": pt.width, "height": pt.height, "dpi": pt.dpi,
            "crown_band": tuple(pt.crown_target), "eye_band": tuple(pt.eye_line_target),
            "face_width_target": pt.face_width_target, "centre_x": pt.centre_x,
            "jpeg_quality_min": pt.jpeg_quality_min, "target_size_kb": tuple(pt.file_size_target_kb),
            "limit_crown": (head.pass_min, head.pass_max), "limit_eye": (eye.pass_min, eye.pass_max),
            "limit_centre": (centre.pass_min, centre.pass_max),
            "limit_face_width": (width.warn_min, width.pass_max),
            "face_width_band": (width.pass_min, width.pass_max),
            "min_eye_distance": eyes.pass_min, "chin_max": shoulders.chin_max, "max_size_kb": size.pass_max_kb,
        }
        mapping.update(overrides)
        return cls.from_mapping(mapping)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready mapping (pairs as lists) that :meth:`from_mapping` accepts."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out
