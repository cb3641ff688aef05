"""Small helpers the test modules share (fixtures live in conftest.py and web_support.py).

- ``free_port()``: a free TCP port on the loopback interface, for a server a test starts;
- ``wait_until(check, timeout, what)``: poll a condition instead of sleeping a fixed time.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

__all__ = ["free_port", "wait_until"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(
    check: Callable[[], object],
    timeout: float = 10.0,
    what: str = "the condition",
    every: float = 0.05,
):
    """Call ``check`` until it returns something true (returned), or fail after ``timeout``
    seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
