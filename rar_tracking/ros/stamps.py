"""ROS time stamps <-> integer nanoseconds, and how a stamp is written in log messages.

The one home of this conversion for the node, the video source, the demo and the tests.
May import: builtin_interfaces (lazily, for :func:`ns_to_stamp`); nothing from rar_tracking.
"""
from __future__ import annotations

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp) -> int:
    """A ``builtin_interfaces/Time`` (or anything with ``sec`` and ``nanosec``) in ns."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_stamp(ns: int):
    """A ``builtin_interfaces/Time`` for ``ns`` nanoseconds."""
    from builtin_interfaces.msg import Time
    sec, nanosec = divmod(int(ns), NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


def format_stamp(ns: int) -> str:
    """``ns`` as seconds with nine decimals, the way ``ros2 topic echo`` shows a stamp."""
    return f'{ns // NS_PER_S}.{ns % NS_PER_S:09d}'
