"""A free TCP port on the loopback interface, for the servers the tests and benches start
(PostgreSQL, Redis, the kiosk's own processes): chosen at run time, never fixed, so
parallel runs on one machine do not collide."""
from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
