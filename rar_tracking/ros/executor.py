"""The executor that spins the ``rar_tracker`` node: callbacks inline, services on a pool.

The node's subscription, timer and guard callbacks never wait: an image callback stores the
message in the :class:`~.inbox.Inbox` and returns. Its services do wait (``set_target`` and
``reset`` for the tracker thread, up to ``init_timeout``; a lifecycle transition while the
tracker is built). rclpy's ``MultiThreadedExecutor`` would keep them apart, but it hands
every callback to a thread pool and rebuilds its wait set in Python after each one; the
executor thread and the pool threads then take the GIL from the tracker thread. Measured on
this 2-core machine (3 December 2026, the node idle, a 640x480 camera at 30 Hz in another
process, 20 s): ``MultiThreadedExecutor(4)`` 0.43 of a core and 14% of the images never
reached the callback; ``SingleThreadedExecutor`` 0.11 of a core and none lost.

:class:`NodeExecutor` runs everything but services inline on the spinning thread, like the
single-threaded executor, and services on a small pool, like the multi-threaded one, so a
waiting call never holds up an image. It only uses rclpy's documented way of writing an
executor (``wait_for_ready_callbacks`` in ``spin_once``), as rclpy's custom-executor example
does, so it runs on the PyPI wheels and on ``/opt/ros`` alike.
May import: rclpy and the standard library.
"""
from __future__ import annotations

import concurrent.futures
import threading
from typing import Any

from rclpy import executors
from rclpy.service import Service

from .thread_names import name_os_thread

# Raised by wait_for_ready_callbacks when there is nothing to do (names differ by release).
_NOTHING_TO_DO = tuple(getattr(executors, name) for name in (
    'ShutdownException', 'TimeoutException', 'ExternalShutdownException',
    'ConditionReachedException') if hasattr(executors, name))


class NodeExecutor(executors.Executor):
    """Callbacks run on the thread that spins, except services, which run on a pool.

    Use it for nodes whose non-service callbacks are short and whose service callbacks may
    block (the ``rar_tracker`` node, plain or managed). Services of one mutually exclusive
    callback group still run one at a time: rclpy's callback groups are honoured as in any
    executor.
    """

    def __init__(self, num_service_threads: int = 4, *, context=None):
        super().__init__(context=context)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=num_service_threads, thread_name_prefix='rar_service',
            initializer=name_os_thread, initargs=('rar_service',))
        self._pending: list[Any] = []
        self._pending_lock = threading.Lock()

    def spin_once(self, timeout_sec: float | None = None) -> None:
        try:
            handler, entity, _node = self.wait_for_ready_callbacks(timeout_sec=timeout_sec)
        except _NOTHING_TO_DO:
            return
        if isinstance(entity, Service):
            with self._pending_lock:
                self._pending.append(handler)
            self._pool.submit(handler)
        else:
            handler()
            _raise_from(handler)
        self._collect_services()

    def spin_once_until_future_complete(self, future, timeout_sec=None) -> None:
        # spin_until_future_complete makes the future wake this executor when it completes,
        # so a plain spin_once serves. Newer rclpy passes a TimeoutObject (``.timeout``).
        self.spin_once(getattr(timeout_sec, 'timeout', timeout_sec))

    _spin_once_until_future_complete = spin_once_until_future_complete  # rclpy >= 8 calls it

    def _collect_services(self) -> None:
        """Raise, on the spinning thread, what a finished service callback raised."""
        with self._pending_lock:
            done = [h for h in self._pending if h.done()]
            self._pending = [h for h in self._pending if not h.done()]
        for handler in done:
            _raise_from(handler)

    def shutdown(self, timeout_sec: float | None = None, *,
                 wait_for_threads: bool = True) -> bool:
        """Stop spinning; with ``wait_for_threads=False`` a service still waiting is left to
        finish (or to end with the process) instead of being waited for."""
        result = super().shutdown(timeout_sec)
        self._pool.shutdown(wait=wait_for_threads, cancel_futures=True)
        return result


def _raise_from(handler) -> None:
    exception = handler.exception()
    if exception is not None:
        raise exception
