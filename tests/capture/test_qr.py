"""capture.qr: the 采集码 QR read from a camera frame, verbatim."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from capture import CaptureError
from capture.qr import decode_qr


def _frame(text: str, scale: int = 8, size=(1280, 720)) -> np.ndarray:
    import cv2

    qr = np.pad(cv2.QRCodeEncoder.create().encode(text), 4, constant_values=255)
    qr = cv2.resize(qr, (qr.shape[1] * scale, qr.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    out = np.full((size[1], size[0], 3), (100, 197, 255), np.uint8)
    out[40:40 + qr.shape[0], 300:300 + qr.shape[1]] = np.dstack([qr] * 3)
    return out


@pytest.mark.parametrize("text", ["CHSI:7f3a9c0e-ABcd/2027+x=1&sig=Zk9==", "  spaces kept  ", "采集码-汉字-2027"])
def test_decodes_verbatim_from_jpeg_bytes_and_arrays(text):
    rgb = _frame(text)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    assert decode_qr(buf.getvalue()) == [text]
    assert decode_qr(rgb) == [text]


def test_nothing_to_read_is_an_empty_list_and_garbage_is_coded():
    assert decode_qr(np.full((480, 640, 3), 128, np.uint8)) == []
    with pytest.raises(CaptureError) as e:
        decode_qr(b"not an image")
    assert e.value.code == "undecodable"
    with pytest.raises(CaptureError) as e:
        decode_qr(np.zeros((4, 4), np.float32))
    assert e.value.code == "bad_frame"
