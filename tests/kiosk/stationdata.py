"""Camera frames and a small world (term, two 学习中心, operators, admin) for station tests.

Frames are real portraits from the corpus on the light-blue backdrop as a 1280×720
webcam would see them (``tests.qc.fixtures.camera_frame``), JPEG-encoded as a browser
posts them; variants break one thing: blurred (QC fails on sharpness), glare on the
lenses (QC warns), nobody in the picture (the normaliser refuses), a QR code.
"""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from kiosk.models import Role
from kiosk.services import photos
from tests.conftest import CORPUS

from .factories import setup_term, user

PORTRAIT = "frll_009_neutral_front.jpg"
BLUE = (100, 197, 255)
QR_TEXT = "CHSI-TXCJM:v2;7f3a9c0e-ABcd/2027+XH=2061001000001&sig=Zk9yRS==  尾部空格 "


def portrait() -> Path:
    return CORPUS / "images" / PORTRAIT


@lru_cache(maxsize=8)
def frame_rgb(kind: str = "pass") -> np.ndarray:
    """``(720, 1280, 3)`` uint8: ``pass`` | ``blur`` | ``glare`` | ``noface`` | ``qr``."""
    from tests.qc.fixtures import Layout, blur, compose, lens_glare

    if kind == "noface":
        return np.full((720, 1280, 3), BLUE, np.uint8)
    if kind == "qr":
        return qr_frame(QR_TEXT)
    if kind == "glare":
        return compose(portrait(), Layout(face_width=250.0, crown_y=110.0, centre_x=640.0), person_fn=lens_glare(),
                       canvas=(1280, 720))
    from tests.qc.fixtures import camera_frame

    return camera_frame(portrait(), post_fn=blur(4.0) if kind == "blur" else None)


def qr_frame(text: str, size=(1280, 720)) -> np.ndarray:
    """The backdrop with a QR code of ``text`` held up in the middle (made with OpenCV's encoder)."""
    import cv2

    qr = cv2.QRCodeEncoder.create().encode(text)
    qr = np.pad(qr, 4, constant_values=255)
    k = max(1, int(min(size) * 0.6 // qr.shape[0]))
    qr = cv2.resize(qr, (qr.shape[1] * k, qr.shape[0] * k), interpolation=cv2.INTER_NEAREST)
    out = np.full((size[1], size[0], 3), BLUE, np.uint8)
    y, x = (size[1] - qr.shape[0]) // 2, (size[0] - qr.shape[1]) // 2
    out[y:y + qr.shape[0], x:x + qr.shape[1]] = np.dstack([qr] * 3)
    return out


@lru_cache(maxsize=8)
def frame_jpeg(kind: str = "pass", quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame_rgb(kind)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def world(session, store=None, *, reference: bool = False):
    """Term 2027-07; 3 students at 雁塔 (operator ``op``), 2 at 渭滨 (operator ``op-weibin``);
    admin ``boss``.  All passwords ``password-123``.  Returns a dict of ids and 学号."""
    term, yanta, studs = setup_term(session, n=3)
    _, weibin, others = setup_term(session, n=2, centre="渭滨学习中心", branch="宝鸡分部", start=10)
    user(session, "op", org_unit_id=yanta.id)
    user(session, "op-weibin", org_unit_id=weibin.id)
    user(session, "boss", role=Role.ADMIN)
    if reference and store is not None:
        ref = Image.fromarray(frame_rgb("pass")).resize((320, 180))
        buf = io.BytesIO()
        ref.save(buf, "JPEG", quality=85)
        studs[0].reference_sha256 = store.put(buf.getvalue())
    session.flush()
    return {"term": term.code, "yanta": yanta.id, "weibin": weibin.id,
            "studs": [(s.id, s.xh, s.name, s.id_number) for s in studs],
            "others": [(s.id, s.xh, s.name, s.id_number) for s in others]}


def approved_photo(session, student_id):
    return photos.approved_photo(session, student_id)
