"""Face count on the real corpus agrees with the human-judged manifest.

Every single-face and no-face image must get exactly that count (no extra face on
badges, patterns, posters or animals).  Multi-face images only need "not one".
"""
from __future__ import annotations

import pytest


def test_face_count_matches_manifest_for_single_and_no_face_images(corpus_manifest, corpus_ctx):
    wrong = []
    for row in corpus_manifest:
        n = int(row["faces"])
        got = len(corpus_ctx(row["file"]).faces)
        if n in (0, 1) and got != n:
            wrong.append((row["file"], n, got))
        if n >= 2 and got == 1 and row["file"] not in KNOWN_MULTI_MISSES:
            wrong.append((row["file"], n, got))
    assert wrong == []


#: Multi-face images where only one face is seen: the others are out of focus, cut by
#: the frame or turned away (the manifest notes say so).  Listed so a change shows up.
KNOWN_MULTI_MISSES = {"dorsey_dark.jpg"}


@pytest.mark.parametrize("name", ["dogs_collage.jpg", "horses_noface.jpg", "cartoon_blue_bg.png",
                                  "blue_backdrop_no_person.png", "passport_outline_drawing.jpg",
                                  "dog_porch_noface.jpg"])
def test_no_face_images_report_face_count_none(name, corpus_ctx):
    import qc

    r = qc.check_photo(corpus_ctx(name))
    assert r["face_count"].code == "face_count.none"
