"""Entry point of the ``rar_tracker_node`` console script (node name ``rar_tracker``).

    ros2 run rar_tracking rar_tracker_node --ros-args \\
        --params-file config/rar_tracker.yaml -r image:=/camera/image_raw

Topics, services and parameters: docs/node.md.

The node itself is :mod:`rar_tracking.ros` (this file only starts it). May import: the
standard library at module level; rclpy and :mod:`rar_tracking.ros`, lazily, inside ``main``.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ['NODE_NAME', 'RARTrackerNode', 'main']


def __getattr__(name: str):
    # rclpy, torch and the node load inside main(), after the signal handlers are set, so that
    # a SIGINT/SIGTERM while they load ends the process cleanly too.
    if name in ('NODE_NAME', 'RARTrackerNode'):
        from .ros import tracker_node
        return getattr(tracker_node, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


class _Stop(BaseException):
    """SIGINT or SIGTERM before the node was up (not an Exception: nothing may swallow it)."""


def main(args: list[str] | None = None, fast_exit: bool = True) -> int:
    """Run the node until Ctrl-C / SIGTERM; 1 when it cannot start (the reason is logged).

    The signals are handled here, not by rclpy: rclpy's handler shuts the context down first,
    after which the node can no longer log its summary (the 'Failed to publish log message to
    rosout' error). Here the order is: stop the tracker thread (waiting service calls are
    answered) and the executor, log, destroy the node, shut the context down. With
    ``fast_exit`` the process then ends at once (``os._exit`` after flushing): everything was
    closed already, and the interpreter's own teardown of the loaded libraries took 2-3 s here,
    longer than a supervisor should wait after SIGINT/SIGTERM.
    """
    stop = threading.Event()
    started = False

    def on_signal(signum, frame):
        stop.set()
        if not started:
            raise _Stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    rclpy = None
    try:
        try:
            import rclpy
            from rclpy.signals import SignalHandlerOptions

            from .ros.lifecycle import build_node
            from .ros.middleware import use_large_image_profile
            profile = use_large_image_profile()  # its debug images: ros/middleware.py
            rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
            node = build_node(args)  # plain, or managed with --lifecycle (ros/lifecycle.py)
            if profile:
                node.get_logger().info(f'Fast DDS profile: {profile}')
            started = True
        except _Stop:  # stopped while loading: nothing to clean up but the context
            if rclpy is not None:
                rclpy.try_shutdown()
            return 0
        except Exception as exc:  # bad parameter, weights file, ...: say why and exit non-zero
            if rclpy is None:
                raise
            rclpy.logging.get_logger('rar_tracker').fatal(f'cannot start: {exc}')
            rclpy.try_shutdown()
            return 1
        _spin_until(node, stop)
        if fast_exit:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _spin_until(node, stop: threading.Event) -> None:
    import rclpy
    from .ros.executor import NodeExecutor
    from .ros.thread_names import name_os_thread

    # Services wait for the tracker thread, so they run on a pool; images and clicks run
    # inline (why not rclpy's MultiThreadedExecutor: ros/executor.py).
    executor = NodeExecutor()
    executor.add_node(node)
    def spin() -> None:
        name_os_thread('rar_executor')
        executor.spin()

    spinner = threading.Thread(target=spin, name='executor', daemon=True)
    spinner.start()
    try:
        while not stop.wait(0.2) and spinner.is_alive():
            pass
    finally:
        node.stop_worker()  # answers waiting service calls, refuses new ones
        # Not waiting for the executor's threads: a callback still inside may wait up to
        # init_timeout; it is answered or dropped with the process.
        executor.shutdown(timeout_sec=1.0, wait_for_threads=False)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
