"""Data a browser test commits: the live server's threads read only committed rows, so set-up
and clean-up run on a connection of their own, outside the test's rolled-back transaction."""

from __future__ import annotations

import threading

from django.db import connections


def in_own_connection(function, *args):
    """`function(*args)` on a fresh connection in another thread, committed; its result."""
    result = {}

    def target():
        try:
            result["value"] = function(*args)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "value" not in result:
        raise RuntimeError(
            "setting up, reading or cleaning the browser test's data failed (see the log)"
        )
    return result["value"]
