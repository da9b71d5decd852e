"""Wait for a condition with a deadline: the tests' only way to wait for threads."""

import threading
import time

WAIT = 5.0  # upper bound for anything that should happen "soon"


def wait_until(predicate, timeout: float = WAIT) -> bool:
    """True once ``predicate()`` is true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        threading.Event().wait(0.005)
    return True
