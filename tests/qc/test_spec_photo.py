"""A clean spec photo passes; each single-rule defect is caught by its check and no other fails.

The clean photo is the FRLL neutral-front portrait cut out of its grey backdrop and
composed on RGB(100,197,255) at the profile's targets (``fixtures.make_spec_photo``).
Defects are derived from it one rule at a time at a clear strength.  Where two rules
measure the same geometry (a face too small for the width band also has too few pixels
between the eyes; FRLL's tall head cannot be enlarged past 300 px without losing the
room above it; an eye line below 300 px pushes the crown down too), the coupled check
is named in ``also`` and may fail as well.
"""
from __future__ import annotations

from tests.qc import fixtures as fx
import pytest
from tests.qc.fixtures import Layout

import qc
from qc import Status

CASES = {
    # name: (builder kwargs, check, expected statuses, also-allowed failing checks)
    "blur_sigma3": (dict(post_fn=fx.blur(3.0)), "sharpness", {Status.FAIL}, set()),
    "face_dark": (dict(person_fn=fx.person_gain(0.4)), "exposure", {Status.FAIL}, set()),
    "side_light": (dict(person_fn=fx.side_light(0.7)), "lighting_symmetry", {Status.FAIL}, set()),
    "shine": (dict(person_fn=fx.shine(0.04)), "highlights", {Status.WARN, Status.FAIL}, set()),
    "lens_glare": (dict(person_fn=fx.lens_glare()), "glasses_glare", {Status.WARN}, set()),
    "colour_cast": (dict(person_fn=fx.person_cast(1.0, 0.8, 0.55)), "natural_colour", {Status.WARN}, set()),
    "grey_backdrop": (dict(backdrop=(200, 200, 200)), "background_colour", {Status.FAIL}, set()),
    "backdrop_00a3e6": (dict(backdrop=(0, 163, 230)), "background_colour", {Status.WARN, Status.FAIL}, set()),
    "backdrop_gradient": (dict(backdrop=fx.vertical_gradient()), "background_uniformity", {Status.FAIL}, set()),
    "blue_top": (dict(person_fn=fx.clothing_colour()), "clothing_contrast", {Status.FAIL}, set()),
    "black_frame": (dict(post_fn=fx.frame(8)), "border", {Status.FAIL}, set()),
    "white_frame": (dict(post_fn=fx.frame(6, (255, 255, 255))), "border", {Status.FAIL}, set()),
    "jpeg_q30": (dict(quality=30, pad_to_kb=35), "jpeg_quality", {Status.FAIL}, set()),
    "file_too_big": (dict(pad_to_kb=75), "file_size", {Status.FAIL}, set()),
    "no_dpi": (dict(dpi=None), "dpi", {Status.WARN}, set()),
    "progressive": (dict(progressive=True), "jpeg_format", {Status.WARN}, set()),
    "head_high": (dict(layout=Layout(crown_y=30)), "head_top", {Status.FAIL}, set()),
    "eyes_low": (dict(layout=Layout(eye_y=320)), "eye_line", {Status.FAIL}, {"head_top"}),
    "off_centre": (dict(layout=Layout(centre_x=195)), "horizontal_centre", {Status.FAIL}, set()),
    "roll_4deg": (dict(layout=Layout(roll_deg=4)), "eye_roll", {Status.WARN}, set()),
    "roll_8deg": (dict(layout=Layout(roll_deg=8)), "eye_roll", {Status.FAIL}, set()),
    "face_big": (dict(layout=Layout(face_width=310, eye_y=298)), "face_width", {Status.FAIL}, {"head_top"}),
    "face_small": (dict(layout=Layout(face_width=175, eye_y=240)), "face_width", {Status.FAIL}, {"eye_distance"}),
    "hair_to_edge": (dict(person_fn=fx.side_blob("left", 10)), "side_margins", {Status.FAIL}, set()),
}


def test_clean_spec_photo_passes_without_warnings(clean_report, clean_photo):
    r = clean_report
    problems = [(c.check, c.status.value, c.measured) for c in r.checks
                if c.status is not Status.PASS and c.check != "identity_match"]
    assert problems == []
    assert r["identity_match"].status is Status.NOT_ASSESSED
    assert r.verdict is Status.PASS
    assert (r.width, r.height) == (480, 640)
    assert 30 * 1024 <= len(clean_photo) <= 40 * 1024
    # The composition lands on the template targets.
    assert 50 <= r["head_top"].measured <= 110
    assert 200 <= r["eye_line"].measured <= 300


@pytest.fixture(scope="module")
def defect_reports(frll_path):
    out = {}
    for name, (kw, *_rest) in CASES.items():
        out[name] = qc.check_photo(fx.make_spec_photo(frll_path, **kw), name=f"{name}.jpg")
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_single_rule_defect_is_caught_by_its_check_only(case, defect_reports):
    _kw, check, statuses, also = CASES[case]
    r = defect_reports[case]
    got = r[check]
    assert got.status in statuses, (case, got)
    assert got.code.startswith(check + ".") and not got.code.endswith(".ok")
    assert got.message_zh and got.message_en
    others = [c.check for c in r.checks if c.status is Status.FAIL and c.check != check and c.check not in also]
    assert others == [], (case, [(c.check, c.measured) for c in r.checks if c.check in others])


def test_backdrop_profile_00a3e6_accepts_its_own_colour(frll_path):
    data = fx.make_spec_photo(frll_path, backdrop=(0, 163, 230))
    r = qc.check_photo(data, profile="chsi_xueli_v1_00a3e6", name="b.jpg")
    assert r["background_colour"].status is Status.PASS
    assert r.profile == "chsi_xueli_v1_00a3e6"


def test_messages_are_actionable(defect_reports):
    ht = defect_reports["head_high"]["head_top"]
    assert "头顶距离顶部" in ht.message_zh and "50–110" in ht.message_zh and "坐低" in ht.message_zh
    assert ht.label_zh == "头顶距离顶部百分比"
    assert defect_reports["eyes_low"]["eye_line"].label_zh == "眼睛中心距离顶部百分比"
    assert defect_reports["roll_8deg"]["eye_roll"].label_zh == "瞳孔平行角度"
    assert defect_reports["blur_sigma3"]["sharpness"].label_zh == "照片清晰度"
    assert defect_reports["black_frame"]["border"].label_zh == "黑边检测"
    assert defect_reports["blue_top"]["clothing_contrast"].label_zh == "黑边检测"


def test_blue_top_leaves_shoulders_to_clothing_contrast(defect_reports):
    # Clothes of the backdrop colour hide the shoulders from the mask: shoulders says it
    # cannot judge rather than failing for the same cause twice.
    assert defect_reports["blue_top"]["shoulders"].status is Status.NOT_ASSESSED
    assert defect_reports["blue_top"]["shoulders"].code == "shoulders.clothing_like_backdrop"
