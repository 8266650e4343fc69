"""Entry point of the ``rar_tracker_node`` console script (node name ``rar_tracker``).

    ros2 run rar_tracking rar_tracker_node --ros-args \\
        --params-file config/rar_tracker.yaml -r image:=/camera/image_raw

Topics, services and parameters: docs/node.md.
"""
from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

from .ros.lifecycle import build_node
from .ros.tracker_node import NODE_NAME, RARTrackerNode

__all__ = ['NODE_NAME', 'RARTrackerNode', 'main']


def main(args: list[str] | None = None) -> int:
    """Run the node until Ctrl-C / SIGTERM; 1 when it cannot start (the reason is logged)."""
    rclpy.init(args=args)
    try:
        node = build_node(args)  # plain, or managed with --lifecycle (ros/lifecycle.py)
    except Exception as exc:  # bad parameter, weights file, ...: say why and exit non-zero
        rclpy.logging.get_logger(NODE_NAME).fatal(f'cannot start: {exc}')
        rclpy.try_shutdown()
        return 1
    # Services wait for the tracker thread, so callbacks need more than one thread.
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
