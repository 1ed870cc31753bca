"""The operator station (issue 5): pages at ``/station``, JSON at ``/api/v1/station``.

``pages`` renders the start form, the station page itself and the review queue's
"call to station" action; ``api`` is what the page's script (``static/station.js``)
talks to; ``runtime`` holds the per-session in-memory helpers (guidance tracker, server
cameras).  Records and rules live in :mod:`kiosk.services.station`.
"""
from __future__ import annotations

from .api import bp as api_bp
from .pages import bp

__all__ = ["bp", "api_bp"]
