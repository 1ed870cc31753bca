"""Profile loading: strict schema, inheritance, caching."""
from __future__ import annotations

import tomllib

import pytest

import qc
from qc.checks import NAMES
from qc.profile import PROFILE_DIR, ProfileError, load_profile, parse_profile


def _raw():
    with open(PROFILE_DIR / "chsi_xueli_v1.toml", "rb") as f:
        return tomllib.load(f)


def test_default_profile_has_every_check_in_registry_order():
    p = qc.load_profile()
    assert p.name == "chsi_xueli_v1" and p.version
    assert tuple(c.name for c in p.checks) == NAMES
    assert len(NAMES) == 29
    assert p.thresholds("background_colour").target_rgb == (100, 197, 255)
    assert (p.template.width, p.template.height, p.template.dpi) == (480, 640, 300)
    assert p.template.eye_line_target == (250.0, 275.0)
    assert p.detection.secondary_min_score > p.detection.primary_min_score


def test_profile_is_cached():
    assert load_profile("chsi_xueli_v1") is load_profile("chsi_xueli_v1")


def test_child_profile_inherits_and_overrides():
    base, child = load_profile("chsi_xueli_v1"), load_profile("chsi_xueli_v1_00a3e6")
    assert child.extends == "chsi_xueli_v1"
    assert child.thresholds("background_colour").target_rgb == (0, 163, 230)
    assert child.thresholds("eye_line") == base.thresholds("eye_line")
    assert child.template == base.template


@pytest.mark.parametrize("mutate, key", [
    (lambda r: r["checks"]["eye_line"].update(pass_mn=1.0), "checks.eye_line.pass_mn"),
    (lambda r: r["checks"]["eye_line"].pop("pass_max"), "checks.eye_line.pass_max"),
    (lambda r: r["checks"].pop("sharpness"), "checks.sharpness"),
    (lambda r: r["checks"].update(no_such_check={"level": "fail"}), "checks.no_such_check"),
    (lambda r: r["checks"]["eye_line"].update(pass_min="200"), "checks.eye_line.pass_min"),
    (lambda r: r["checks"]["eye_line"].update(level="maybe"), "checks.eye_line.level"),
    (lambda r: r["checks"]["eye_line"].update(pass_min=400.0), "checks.eye_line"),
    (lambda r: r["detection"].update(upsampel=1), "detection.upsampel"),
    (lambda r: r["template"].pop("crown_target"), "template.crown_target"),
    (lambda r: r["template"].update(width=500), "template.width"),
    (lambda r: r.update(extra={}), "extra"),
    (lambda r: r["profile"].pop("version"), "profile.version"),
])
def test_strict_schema_names_the_key(mutate, key):
    raw = _raw()
    mutate(raw)
    with pytest.raises(ProfileError) as e:
        parse_profile(raw)
    assert key in str(e.value)


def test_child_with_unknown_override_is_rejected(tmp_path):
    p = tmp_path / "child.toml"
    p.write_text('[profile]\nname="c"\nversion="1"\ndescription=""\nextends="chsi_xueli_v1"\n'
                 '[checks.eye_line]\npass_minimum = 190.0\n', encoding="utf-8")
    with pytest.raises(ProfileError, match="checks.eye_line.pass_minimum"):
        load_profile(p)


def test_unknown_profile_name():
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile("no_such_profile")


def test_level_warn_caps_and_off_skips(tmp_path, clean_photo):
    import io

    from tests.qc import fixtures as fx
    import numpy as np
    from PIL import Image

    p = tmp_path / "lenient.toml"
    p.write_text('[profile]\nname="lenient"\nversion="1"\ndescription=""\nextends="chsi_xueli_v1"\n'
                 '[checks.dimensions]\nlevel = "warn"\n[checks.identity_match]\nlevel = "off"\n', encoding="utf-8")
    rgb = np.asarray(Image.open(io.BytesIO(clean_photo)).convert("RGB"))
    small = fx.encode_jpeg(np.ascontiguousarray(rgb[:600, :460]))
    r = qc.check_photo(small, profile=p, name="x.jpg")
    assert r["dimensions"].status is qc.Status.WARN
    assert r["dimensions"].code == "dimensions.wrong_size"
    assert "identity_match" not in r.by_name()
    assert r.profile == "lenient"
