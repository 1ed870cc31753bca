"""QC profiles: the thresholds of every check, loaded from TOML and validated strictly.

A profile file (``qc/profiles/<name>.toml``) has these sections::

    [profile]        name, version, description  (+ extends = "<parent>" in a child)
    [template]       canvas and auto-crop targets that capture reads
    [detection]      face detection parameters (qc.context.DetectionParams)
    [segmentation]   person/backdrop split parameters (qc.segment.SegmentationParams)
    [checks.<name>]  one per check: level = "fail" | "warn" | "off", plus exactly the
                     fields of that check module's ``Thresholds`` dataclass

Strict: an unknown or missing key, a value of the wrong type, or an inconsistent value
is a :class:`ProfileError` whose message names the key (``checks.eye_line.pass_min``).
A child profile names its parent with ``extends``; its sections are merged key by key
over the parent's (only the overridden keys need to be written), then the merged whole
is validated the same way.

``level``: ``fail`` = the check reports as measured; ``warn`` = a fail is reported as
warn (the check never blocks); ``off`` = the check is not run and not reported.
"""
from __future__ import annotations

import copy
import dataclasses
import os
import threading
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .context import DetectionParams

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
DEFAULT_PROFILE = "chsi_xueli_v1"
LEVELS = ("fail", "warn", "off")


class ProfileError(ValueError):
    """A profile file is missing, malformed, or does not match the schema."""


@dataclass(frozen=True)
class Template:
    """Canvas and auto-crop targets (profile section ``[template]``), all in px of the canvas.

    ``crown_target``/``eye_line_target``: ``(min, max)`` rows from the top edge the
    normaliser aims for; ``face_width_target``: jaw width; ``centre_x``: eye-midpoint
    x; ``jpeg_quality_min``: lowest IJG quality to encode at; ``file_size_target_kb``:
    ``(min, max)`` KB (1024 bytes) the encoder searches quality for.
    """

    width: int
    height: int
    dpi: int
    crown_target: tuple[float, float]
    eye_line_target: tuple[float, float]
    face_width_target: float
    centre_x: float
    jpeg_quality_min: int
    file_size_target_kb: tuple[float, float]


@dataclass(frozen=True)
class CheckSpec:
    """One check's configuration: ``level`` and its ``thresholds`` dataclass instance."""

    name: str
    level: str
    thresholds: Any


@dataclass(frozen=True)
class Profile:
    """A validated profile.  ``checks`` follows the registry order (``off`` checks included)."""

    name: str
    version: str
    description: str
    extends: str | None
    source: str
    template: Template
    detection: DetectionParams
    segmentation: Any
    checks: tuple[CheckSpec, ...]

    def spec(self, check: str) -> CheckSpec:
        for c in self.checks:
            if c.name == check:
                return c
        raise KeyError(check)

    def thresholds(self, check: str) -> Any:
        """The ``Thresholds`` instance of ``check``."""
        return self.spec(check).thresholds

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"


# ---------------------------------------------------------------------------- type checks
def _describe(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` (from TOML) against the annotation ``tp``; return the typed value."""
    origin = typing.get_origin(tp)
    if tp is bool:
        if not isinstance(value, bool):
            raise ProfileError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ProfileError(f"{key}: expected a string, got {value!r}")
        return value
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, list) or len(value) != len(args):
            raise ProfileError(f"{key}: expected a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    raise ProfileError(f"{key}: unsupported field type {_describe(tp)}")  # pragma: no cover


def _build(cls, raw: dict, section: str, extra_ok: tuple[str, ...] = ()) -> Any:
    """Instantiate dataclass ``cls`` from ``raw`` strictly (every field, no other key)."""
    if not isinstance(raw, dict):
        raise ProfileError(f"{section}: expected a table")
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    for k in raw:
        if k not in fields and k not in extra_ok:
            raise ProfileError(f"{section}.{k}: unknown key (allowed: {', '.join(list(extra_ok) + fields)})")
    missing = [f for f in fields if f not in raw]
    if missing:
        raise ProfileError(f"{section}.{missing[0]}: missing key")
    kwargs = {f: _coerce(raw[f], hints[f], f"{section}.{f}") for f in fields}
    try:
        return cls(**kwargs)
    except ProfileError:
        raise
    except (ValueError, TypeError) as e:
        raise ProfileError(f"{section}.{e}") from None


# ---------------------------------------------------------------------------- loading
def _resolve(name_or_path: str | os.PathLike) -> Path:
    s = str(name_or_path)
    p = Path(s)
    if p.suffix == ".toml" or os.sep in s or "/" in s:
        if not p.is_file():
            raise ProfileError(f"profile file not found: {s}")
        return p.resolve()
    cand = PROFILE_DIR / f"{s}.toml"
    if not cand.is_file():
        known = ", ".join(sorted(x.stem for x in PROFILE_DIR.glob("*.toml")))
        raise ProfileError(f"unknown profile {s!r} (known: {known})")
    return cand


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError(f"{path.name}: not valid TOML: {e}") from None


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _raw_with_parents(path: Path, seen: tuple[str, ...] = ()) -> dict:
    raw = _read(path)
    meta = raw.get("profile")
    if not isinstance(meta, dict):
        raise ProfileError(f"{path.name}: [profile] section missing")
    parent = meta.get("extends")
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ProfileError("profile.extends: expected a profile name")
    if parent in seen or parent == path.stem:
        raise ProfileError(f"profile.extends: inheritance cycle through {parent!r}")
    parent_path = _resolve(parent) if "/" in parent or parent.endswith(".toml") else PROFILE_DIR / f"{parent}.toml"
    if not parent_path.is_file():
        raise ProfileError(f"profile.extends: unknown parent profile {parent!r}")
    base = _raw_with_parents(parent_path, seen + (path.stem,))
    base_meta = dict(base.get("profile", {}))
    base_meta.pop("extends", None)
    merged = _merge(base, {k: v for k, v in raw.items() if k != "profile"})
    # The child's own metadata replaces the parent's; extends is kept for the record.
    merged["profile"] = {**base_meta, **meta}
    return merged


def parse_profile(raw: dict, source: str = "<dict>") -> Profile:
    """Validate an already merged profile mapping and build a :class:`Profile`."""
    from .checks import REGISTRY  # noqa: PLC0415
    from .segment import SegmentationParams  # noqa: PLC0415

    allowed = ("profile", "template", "detection", "segmentation", "checks")
    for k in raw:
        if k not in allowed:
            raise ProfileError(f"{k}: unknown section (allowed: {', '.join(allowed)})")
    for k in allowed:
        if k not in raw:
            raise ProfileError(f"{k}: missing section")
    meta = raw["profile"]
    for k in meta:
        if k not in ("name", "version", "description", "extends"):
            raise ProfileError(f"profile.{k}: unknown key")
    for k in ("name", "version", "description"):
        if k not in meta:
            raise ProfileError(f"profile.{k}: missing key")
        if not isinstance(meta[k], str) or (k != "description" and not meta[k]):
            raise ProfileError(f"profile.{k}: expected a non-empty string")

    template = _build(Template, raw["template"], "template")
    detection = _build(DetectionParams, raw["detection"], "detection")
    segmentation = _build(SegmentationParams, raw["segmentation"], "segmentation")

    checks_raw = raw["checks"]
    if not isinstance(checks_raw, dict):
        raise ProfileError("checks: expected a table of check sections")
    names = [m.NAME for m in REGISTRY]
    for k in checks_raw:
        if k not in names:
            raise ProfileError(f"checks.{k}: unknown check (known: {', '.join(names)})")
    specs = []
    for m in REGISTRY:
        sec = f"checks.{m.NAME}"
        if m.NAME not in checks_raw:
            raise ProfileError(f"{sec}: missing section")
        body = checks_raw[m.NAME]
        if not isinstance(body, dict):
            raise ProfileError(f"{sec}: expected a table")
        if "level" not in body:
            raise ProfileError(f"{sec}.level: missing key")
        level = body["level"]
        if level not in LEVELS:
            raise ProfileError(f"{sec}.level: expected one of {', '.join(LEVELS)}, got {level!r}")
        th = _build(m.Thresholds, {k: v for k, v in body.items() if k != "level"}, sec)
        specs.append(CheckSpec(name=m.NAME, level=level, thresholds=th))

    prof = Profile(name=meta["name"], version=meta["version"], description=meta["description"],
                   extends=meta.get("extends"), source=source, template=template, detection=detection,
                   segmentation=segmentation, checks=tuple(specs))
    _cross_validate(prof)
    return prof


def _cross_validate(p: Profile) -> None:
    """Keys that must agree between sections."""
    dims = p.thresholds("dimensions")
    if (p.template.width, p.template.height) != (dims.width, dims.height):
        raise ProfileError(f"template.width/height ({p.template.width}×{p.template.height}) differ from "
                           f"checks.dimensions ({dims.width}×{dims.height})")
    bg, ex = p.thresholds("background_colour"), p.thresholds("exposure")
    if tuple(ex.backdrop_rgb) != tuple(bg.target_rgb):
        raise ProfileError(f"checks.exposure.backdrop_rgb ({list(ex.backdrop_rgb)}) differs from "
                           f"checks.background_colour.target_rgb ({list(bg.target_rgb)})")
    dpi = p.thresholds("dpi")
    if abs(p.template.dpi - dpi.dpi) > dpi.tolerance:
        raise ProfileError(f"template.dpi ({p.template.dpi}) differs from checks.dpi.dpi ({dpi.dpi:g})")
    q = p.thresholds("jpeg_quality")
    if p.template.jpeg_quality_min < q.pass_min:
        raise ProfileError(f"template.jpeg_quality_min ({p.template.jpeg_quality_min}) is below "
                           f"checks.jpeg_quality.pass_min ({q.pass_min})")
    for key, (lo, hi), band in (
        ("crown_target", p.template.crown_target, p.thresholds("head_top")),
        ("eye_line_target", p.template.eye_line_target, p.thresholds("eye_line")),
    ):
        if lo > hi:
            raise ProfileError(f"template.{key}: min above max")
        if lo < band.pass_min or hi > band.pass_max:
            raise ProfileError(f"template.{key} ({lo:g}–{hi:g}) lies outside the pass band of its check "
                               f"({band.pass_min:g}–{band.pass_max:g})")


_cache: dict[tuple[str, float], Profile] = {}
_cache_lock = threading.Lock()


#: ``(path, mtime) -> profile.extends`` so a cache lookup costs a ``stat`` per file, not
#: a TOML parse (parsing the profile on every ``check_photo`` took ~1.5 ms of a ~40 ms run).
_parent_cache: dict[tuple[str, float], object] = {}


def _mtime_key(path: Path) -> float:
    """Newest mtime over the file and its parents (so editing a parent refreshes children)."""
    t = path.stat().st_mtime
    pk = (str(path), t)
    if pk in _parent_cache:
        parent = _parent_cache[pk]
    else:
        try:
            parent = _read(path).get("profile", {}).get("extends")
        except ProfileError:
            return t
        _parent_cache[pk] = parent
    if isinstance(parent, str):
        pp = PROFILE_DIR / f"{parent}.toml"
        if pp.is_file() and pp != path:
            t = max(t, _mtime_key(pp))
    return t


def load_profile(profile: "str | os.PathLike | Profile" = DEFAULT_PROFILE) -> Profile:
    """Load (and cache) a profile by name (``qc/profiles/<name>.toml``) or path.

    A :class:`Profile` passes through unchanged.  Raises :class:`ProfileError`.
    """
    if isinstance(profile, Profile):
        return profile
    path = _resolve(profile)
    key = (str(path), _mtime_key(path))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    raw = _raw_with_parents(path)
    prof = parse_profile(raw, source=str(path))
    with _cache_lock:
        _cache[key] = prof
    return prof


def available_profiles() -> list[str]:
    """Names of the profiles shipped in ``qc/profiles``."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))
