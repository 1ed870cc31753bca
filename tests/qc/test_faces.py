"""The face wrapper (qc.faces)."""


def test_loading_face_models_leaves_pillow_strict_about_truncation():
    """face_recognition switches Pillow's LOAD_TRUNCATED_IMAGES on at import; our wrapper
    must not leave it that way for the rest of the process."""
    from PIL import ImageFile

    from qc import faces

    faces.models()
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --------------------------------------------------------------- skipping pyramid levels
# Photos whose detections come from several pyramid levels, some boxes partly outside
# the image (oscars_selfie_group: left -13; obama_partial_face: left -32), and where no
# finest-level detection overlaps a coarser one (so the two scans' lists are comparable).
_MULTI_SCALE = ["group_three_friends.jpg", "oscars_selfie_group.jpg", "obama_partial_face.jpg",
                "trump_clinton_debate.jpg", "obama_biden_two_people.jpg", "jolie_pitt_couple.jpg",
                "gates_jobs_composite.jpg", "jolie_white_bg_mirrored.jpg", "yale01_sleepy.png"]


def _working_copy(ctx, max_side=640):
    import cv2

    img = ctx.rgb
    h, w = img.shape[:2]
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return img


def test_skipping_the_finest_level_reports_every_coarser_face_exactly(corpus_ctx):
    """The coarse scan's boxes are mapped back to the rectangles dlib's full scan reports
    (to the pixel, including boxes reaching past the image edge), with the same scores;
    only the finest level's faces (72 px boxes) are missing."""
    from qc import faces

    detector, _, _ = faces.models()
    coarse_found = 0
    for name in _MULTI_SCALE:
        work = _working_copy(corpus_ctx(name))
        rects, scores, _ = detector.run(work, 0, -0.3)
        full = sorted((r.left(), r.top(), r.right(), r.bottom(), round(s, 9))
                      for r, s in zip(rects, scores) if r.right() - r.left() > 80)
        got = faces.detect(work, min_score=-0.3, skip_levels=1, with_landmarks=False)
        coarse = sorted((f.box.left, f.box.top, f.box.right, f.box.bottom, round(f.score, 9)) for f in got)
        assert coarse == full, name
        coarse_found += len(coarse)
    assert coarse_found >= 15


def test_a_box_no_scan_window_gives_is_not_lifted_and_the_full_scan_runs(corpus_ctx, monkeypatch):
    import dlib

    from qc import faces

    assert faces._lift(dlib.rectangle(0, 0, 50, 50), 1, 72) is None       # smaller than any window
    assert faces._lift(dlib.rectangle(3, 5, 90, 97), 1, 72) is None       # not a window's shape
    work = _working_copy(corpus_ctx("harington_leslie_pair.jpg"))
    full = faces.detect(work, min_score=-0.3, with_landmarks=False)
    assert any(f.box.width <= 72 for f in full)                           # a finest-level face
    monkeypatch.setattr(faces, "_lift", lambda rect, levels, extent: None)
    again = faces.detect(work, min_score=-0.3, skip_levels=1, with_landmarks=False)
    assert [(f.box, f.score) for f in again] == [(f.box, f.score) for f in full]


def _ctx(data, profile, **det):
    import dataclasses

    from qc.context import PhotoContext

    return PhotoContext(data, detection=dataclasses.replace(profile.detection, **det))


def _faces_of(ctx):
    return [(f.box, f.score, f.landmarks.tolist()) for f in ctx.faces]


def test_qc_first_pass_stands_for_a_spec_face_and_gives_the_full_scans_faces(clean_photo, profile):
    ctx = _ctx(clean_photo, profile)
    assert profile.detection.skip_levels == 1
    assert _faces_of(ctx) == _faces_of(_ctx(clean_photo, profile, skip_levels=0))
    assert ctx.detection_passes == 1


def test_a_small_main_face_sends_qc_to_the_full_scan(corpus_dir, profile):
    """harington_1: the full scan's best box is a 72 px finest-level one (2.43), which
    suppresses the same face's 86 px box (1.88).  The coarse scan alone would take the
    86 px box; its main face is under skip_min_width, so the full scan decides."""
    data = (corpus_dir / "harington_1.jpg").read_bytes()
    ctx = _ctx(data, profile)
    full = _ctx(data, profile, skip_levels=0)
    assert _faces_of(ctx) == _faces_of(full) and ctx.detection_passes == 2
    careless = _ctx(data, profile, skip_min_width=0)
    assert [round(f.score, 2) for f in careless.faces] == [1.88] != [round(f.score, 2) for f in full.faces]
    assert careless.detection_passes == 1


def _with_small_face(clean_photo, corpus_dir, hog_width: int):
    """The clean spec photo with a second, smaller face (damon_plain_1's) pasted top right,
    scaled so its full-size HOG box would be ``hog_width`` px."""
    import cv2

    import qc

    base = qc.PhotoContext(clean_photo).rgb.copy()
    src = qc.PhotoContext(corpus_dir / "damon_plain_1.jpg")
    b = src.faces[0].box
    pad = int(b.width * 0.4)
    crop = src.rgb[max(0, b.top - pad):b.bottom + pad, max(0, b.left - pad):b.right + pad]
    s = hog_width / b.width
    small = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    h, w = small.shape[:2]
    base[10:10 + h, 470 - w:470] = small
    return base


def test_the_first_pass_still_counts_a_second_face_of_70_px_but_not_one_of_60(clean_photo, corpus_dir, profile):
    """What skipping the finest level costs: the full scan finds a second face down to
    ~56 px, the coarse scan down to ~64 px (at 86 px boxes, with a lower score)."""
    at70 = _with_small_face(clean_photo, corpus_dir, 70)
    assert len(_ctx(at70, profile).faces) == 2
    at60 = _with_small_face(clean_photo, corpus_dir, 60)
    assert len(_ctx(at60, profile, skip_levels=0).faces) == 2
    ctx = _ctx(at60, profile)
    assert len(ctx.faces) == 1 and ctx.detection_passes == 1
