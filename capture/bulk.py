"""Worker-side functions for bulk checking (imaging-unit intake) in a process pool.

Pure and picklable, like :func:`capture.prepare.prepare`: bytes in, plain data out; no
database, no Flask.  A pool worker calls :func:`init_worker` once (profile parsed and
face models loaded once per process), then :func:`check_chunk` / :func:`encode_chunk`
for lists of files.  Each item's failure is returned as :class:`ItemError`, never
raised, so one bad file cannot sink the other files of its chunk.
"""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Environment that keeps numerical libraries on one thread per worker process.  Each
#: worker is one core's worth of work; OpenBLAS's own threads on top of that made the
#: QC's least-squares fits 3–6× slower (measured: 7 ms vs 0.5 ms for one backdrop fit).
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "NUMEXPR_NUM_THREADS": "1"}

_state: dict[str, Any] = {}


@dataclass(frozen=True)
class ItemError:
    """A file the worker could not process (an unexpected exception, not a QC result)."""

    code: str
    message_zh: str
    message_en: str


@dataclass(frozen=True)
class CheckItem:
    """One file to check: the received bytes and, when the student has an enrolment
    photo, its 128-d encoding (``identity_match`` needs it; an encoding is then returned)."""

    key: Any
    data: bytes
    reference: Any = None


@dataclass(frozen=True)
class EncodeItem:
    """A recorded spec photo whose face encoding is wanted; ``box`` (left, top, right,
    bottom) px from its QC run skips the face detection."""

    key: Any
    data: bytes
    box: tuple[int, int, int, int] | None = None


def init_worker(profile: str = "chsi_xueli_v1", warm: bool = True) -> None:
    """Per-process set-up: parse the profile once and load the face models once."""
    for k, v in SINGLE_THREAD_ENV.items():
        os.environ.setdefault(k, v)
    import cv2  # noqa: PLC0415

    cv2.setNumThreads(1)        # OpenCV's own thread pool, likewise: one worker = one core
    import qc  # noqa: PLC0415

    _state["profile"] = qc.load_profile(profile)
    _state["profile_name"] = profile
    if warm:
        from qc import faces  # noqa: PLC0415

        faces.models()


def _profile(name: str | None = None):
    if "profile" not in _state or (name and name != _state.get("profile_name")):
        init_worker(name or "chsi_xueli_v1", warm=False)
    return _state["profile"]


def check_one(item: CheckItem, profile: str | None = None):
    """:func:`capture.prepare.prepare` in ``auto`` mode for one intake file."""
    from .prepare import prepare  # noqa: PLC0415

    try:
        # No file name: intake files are renamed {学号}.jpg on the way out, so the
        # sender's extension (".JPG", ".jpeg") is not a defect of the photo.
        return prepare(item.data, profile=_profile(profile), reference=item.reference, mode="auto",
                       want_encoding=item.reference is not None)
    except Exception as e:  # noqa: BLE001 - reported per file, the chunk goes on
        return ItemError("internal", f"处理出错（{type(e).__name__}）", f"processing failed: "
                         f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")


def check_chunk(items: list[CheckItem], profile: str | None = None) -> list[Any]:
    """``[Prepared | ItemError]`` for ``items``, in order."""
    return [check_one(it, profile) for it in items]


@dataclass(frozen=True)
class FaceData:
    """What the duplicate search needs of a photo: the 128-d float32 encoding and the
    64-bit face hash (:mod:`qc.phash`), computed together while the face is at hand."""

    encoding: np.ndarray
    phash: int | None


def encode_one(item: EncodeItem):
    """:class:`FaceData` of the single face of a spec photo, ``None`` when there is none,
    or :class:`ItemError`."""
    try:
        from qc import faces  # noqa: PLC0415
        from qc.context import PhotoContext, decode  # noqa: PLC0415
        from qc.phash import face_phash  # noqa: PLC0415

        if item.box is not None:
            _, rgb = decode(item.data)
            box = faces.Box(*item.box)
            face = faces.Face(box=box, score=1.0, landmarks=faces.landmarks_for(rgb, box))
        else:
            ctx = PhotoContext(item.data)
            rgb, face = ctx.rgb, ctx.face
            if face is None:
                return None
        try:
            ph = face_phash(rgb, face)
        except ValueError:
            ph = None
        return FaceData(faces.encode(rgb, face), ph)
    except Exception as e:  # noqa: BLE001
        return ItemError("internal", f"计算人脸特征出错（{type(e).__name__}）", f"encoding failed: {e}")


def encode_chunk(items: list[EncodeItem]) -> list[Any]:
    return [encode_one(it) for it in items]

