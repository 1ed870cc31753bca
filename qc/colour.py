"""Colour arithmetic: CIEDE2000 colour difference and sRGB → CIELAB for single colours.

Implemented from Sharma, Wu & Dalal, "The CIEDE2000 Color-Difference Formula:
Implementation Notes, Supplementary Test Data, and Mathematical Observations" (2005);
the test in ``tests/qc/test_colour.py`` checks it against pairs from their table.
"""
from __future__ import annotations

import numpy as np


def delta_e2000(lab1, lab2, kL: float = 1.0, kC: float = 1.0, kH: float = 1.0) -> np.ndarray:
    """CIEDE2000 ΔE₀₀ between CIELAB colours.

    Parameters
    ----------
    lab1, lab2 : array_like, shape ``(..., 3)``
        ``L*`` (0–100), ``a*``, ``b*``; broadcast against each other.

    Returns
    -------
    numpy.ndarray
        Shape ``(...)``, float64.
    """
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, dtype=np.float64), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, dtype=np.float64), -1, 0)
    C1 = np.hypot(a1, b1)
    C2 = np.hypot(a2, b2)
    Cb = (C1 + C2) / 2.0
    G = 0.5 * (1 - np.sqrt(Cb ** 7 / (Cb ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, h1p)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, h2p)

    dLp = L2 - L1
    dCp = C2p - C1p
    dhp = h2p - h1p
    dhp = np.where(dhp > 180, dhp - 360, dhp)
    dhp = np.where(dhp < -180, dhp + 360, dhp)
    dhp = np.where(C1p * C2p == 0, 0.0, dhp)
    dHp = 2 * np.sqrt(C1p * C2p) * np.sin(np.radians(dhp) / 2.0)

    Lbp = (L1 + L2) / 2.0
    Cbp = (C1p + C2p) / 2.0
    hsum = h1p + h2p
    hbp = np.where(np.abs(h1p - h2p) > 180, np.where(hsum < 360, (hsum + 360) / 2.0, (hsum - 360) / 2.0), hsum / 2.0)
    hbp = np.where(C1p * C2p == 0, hsum, hbp)
    T = (1 - 0.17 * np.cos(np.radians(hbp - 30)) + 0.24 * np.cos(np.radians(2 * hbp))
         + 0.32 * np.cos(np.radians(3 * hbp + 6)) - 0.20 * np.cos(np.radians(4 * hbp - 63)))
    dtheta = 30 * np.exp(-(((hbp - 275) / 25.0) ** 2))
    Rc = 2 * np.sqrt(Cbp ** 7 / (Cbp ** 7 + 25.0 ** 7))
    Sl = 1 + 0.015 * (Lbp - 50) ** 2 / np.sqrt(20 + (Lbp - 50) ** 2)
    Sc = 1 + 0.045 * Cbp
    Sh = 1 + 0.015 * Cbp * T
    Rt = -np.sin(np.radians(2 * dtheta)) * Rc
    return np.sqrt((dLp / (kL * Sl)) ** 2 + (dCp / (kC * Sc)) ** 2 + (dHp / (kH * Sh)) ** 2
                   + Rt * (dCp / (kC * Sc)) * (dHp / (kH * Sh)))


def rgb_to_lab1(rgb) -> tuple[float, float, float]:
    """One sRGB colour (0–255 each) → CIELAB (D65) ``(L*, a*, b*)``."""
    from .segment import rgb_to_lab  # noqa: PLC0415

    lab = rgb_to_lab(np.array([[list(rgb)]], dtype=np.uint8))[0, 0]
    return float(lab[0]), float(lab[1]), float(lab[2])


def lab_to_rgb1(lab) -> tuple[int, int, int]:
    """One CIELAB colour → sRGB 0–255 (clipped)."""
    import cv2  # noqa: PLC0415

    a = np.array([[list(lab)]], dtype=np.float32)
    rgb = cv2.cvtColor(a, cv2.COLOR_Lab2RGB)[0, 0]
    return tuple(int(round(v)) for v in np.clip(rgb * 255.0, 0, 255))
