"""The face wrapper (qc.faces)."""


def test_loading_face_models_leaves_pillow_strict_about_truncation():
    """face_recognition switches Pillow's LOAD_TRUNCATED_IMAGES on at import; our wrapper
    must not leave it that way for the rest of the process."""
    from PIL import ImageFile

    from qc import faces

    faces.models()
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
