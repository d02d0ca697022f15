"""Handing tasks to the broker without making the caller wait for it.

A ticket reply or an escalation commits its rows and an outbox row, then asks a worker to
drain the outbox. Publishing that request costs a broker round trip and Celery's own work
(a tenth of a relayed reply); the caller does not need its result, and a request that is
lost is not a lost message: the outbox rows stay, and the beat fan-out drains every
instance each minute. So `enqueue_soon` hands the request to one publisher thread per
process, which sends each distinct request once however often it was asked for meanwhile.

With `task_always_eager` (tests, the embedded demo) the task runs at once, in the caller,
as before: what a test asserts right after a call has happened.
"""

from __future__ import annotations

import logging
import os
import queue
import threading

log = logging.getLogger(__name__)

_lock = threading.Lock()
_requests: queue.SimpleQueue | None = None
_owner_pid: int | None = None


def enqueue_soon(task, **kwargs) -> None:
    """Ask for `task(**kwargs)` to be queued for the workers, from a publisher thread."""
    if task.app.conf.task_always_eager:
        _publish(task, kwargs)
        return
    _publisher().put((task, kwargs))


def _publisher() -> queue.SimpleQueue:
    global _requests, _owner_pid
    with _lock:
        # A forked child (gunicorn, Celery's prefork pool) does not inherit the thread.
        if _requests is None or _owner_pid != os.getpid():
            _requests, _owner_pid = queue.SimpleQueue(), os.getpid()
            threading.Thread(
                target=_publish_forever, args=(_requests,), name="enqueue-soon", daemon=True
            ).start()
        return _requests


def _publish_forever(requests: queue.SimpleQueue) -> None:
    while True:
        batch = [requests.get()]
        while True:  # everything asked for meanwhile, each distinct request once
            try:
                batch.append(requests.get_nowait())
            except queue.Empty:
                break
        sent = set()
        for task, kwargs in batch:
            key = (task.name, id(task) if isinstance(task, _Marker) else None, repr(kwargs))
            if key not in sent:
                sent.add(key)
                _publish(task, kwargs)


def _publish(task, kwargs: dict) -> None:
    try:
        task.apply_async(kwargs=kwargs)
    except Exception:  # broker down: the outbox rows wait for the beat fan-out
        log.warning("Could not enqueue %s(%s)", task.name, kwargs)


def wait_until_sent(timeout: float = 5.0) -> bool:
    """For tests and shutdown: True once every request handed over so far was sent."""
    done = threading.Event()
    if _requests is None or _owner_pid != os.getpid():
        return True
    _requests.put((_Marker(done), {}))
    return done.wait(timeout)


class _Marker:
    """A request that only says the publisher got this far."""

    name = "enqueue-soon.marker"

    def __init__(self, done: threading.Event) -> None:
        self.done = done

    def apply_async(self, kwargs) -> None:
        self.done.set()
