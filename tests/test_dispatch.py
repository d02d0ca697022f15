"""Tasks handed to the broker from a publisher thread (`instance.dispatch.enqueue_soon`)."""

from __future__ import annotations

import threading

from tenant_apps.instance import dispatch


class _App:
    class conf:
        task_always_eager = False


class _Task:
    """Records what was published and from which thread."""

    name = "tests.fake"
    app = _App

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[dict, str]] = []
        self.fail = fail
        self.gate = threading.Event()
        self.gate.set()

    def apply_async(self, kwargs) -> None:
        self.gate.wait(5)
        self.calls.append((kwargs, threading.current_thread().name))
        if self.fail:
            raise ConnectionError("broker unreachable")


def test_requests_are_published_off_the_callers_thread():
    task = _Task()
    dispatch.enqueue_soon(task, schema_name="r_acme")
    assert dispatch.wait_until_sent()
    assert task.calls == [({"schema_name": "r_acme"}, "enqueue-soon")]


def test_requests_asked_for_while_the_publisher_is_busy_are_sent_once_each():
    blocker, task = _Task(), _Task()
    blocker.gate.clear()  # the publisher waits on the broker for this one
    dispatch.enqueue_soon(blocker, schema_name="r_other")
    for _ in range(5):
        dispatch.enqueue_soon(task, schema_name="r_acme")
    dispatch.enqueue_soon(task, schema_name="r_bluebird")
    blocker.gate.set()
    assert dispatch.wait_until_sent()
    assert [kwargs for kwargs, _ in task.calls] == [
        {"schema_name": "r_acme"},
        {"schema_name": "r_bluebird"},
    ]


def test_a_broker_outage_is_logged_and_the_publisher_keeps_going(caplog):
    failing, task = _Task(fail=True), _Task()
    dispatch.enqueue_soon(failing, schema_name="r_acme")
    assert dispatch.wait_until_sent()
    dispatch.enqueue_soon(task, schema_name="r_acme")
    assert dispatch.wait_until_sent()
    assert task.calls and "Could not enqueue tests.fake" in caplog.text


def test_eager_tasks_run_in_the_caller_as_before():
    task = _Task()
    task.app = type("EagerApp", (), {"conf": type("conf", (), {"task_always_eager": True})})
    dispatch.enqueue_soon(task, schema_name="r_acme")
    assert task.calls == [({"schema_name": "r_acme"}, threading.current_thread().name)]
