"""Wait for a SQL Admin operation through the emulator, as a client must: the tests of every sqladmin area use it."""

import time


def wait_done(session, base, op, timeout=5.0):
    """Poll the operation by name under our own endpoint (its selfLink names Google's host) until DONE."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = session.get(f"{base}/operations/{op['name']}").json()
        if body["status"] == "DONE":
            return body
        time.sleep(0.05)
    raise AssertionError(f"operation {op['name']} not DONE after {timeout} s")
