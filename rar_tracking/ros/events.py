"""QoS event handlers the node does without (fewer entities in every executor wait).

rclpy gives each publisher and subscription default event handlers (an incompatible QoS or
type warning). Each is a waitable that the Python executors put into the wait set they build
again after every callback: the node has 11 publishers and subscriptions, so 22 of them. At a
30 Hz 640x480 camera that rebuilding took most of the node process's time on a 2-core machine
(py-spy: 80% of the samples in the executor thread, 13% left for the tracker thread; 3
December 2026) and delayed the image callbacks by up to 1 s, which is when images were lost.

The node keeps the default handlers on the image subscription, where a QoS mismatch with the
camera is the user's problem to see; for its outputs and side inputs it drops them: the
subscriber or publisher at the other end still reports any mismatch from its own handler.
May import: rclpy.
"""
from __future__ import annotations

from typing import Any


def _without_defaults(kind: str) -> Any:
    try:
        from rclpy import event_handler  # Iron and later
    except ImportError:  # pragma: no cover - Humble names the module qos_event
        from rclpy import qos_event as event_handler

    cls = getattr(event_handler, kind)
    try:
        return cls(use_default_callbacks=False)
    except TypeError:  # pragma: no cover - an rclpy without the option: keep its defaults
        return None


def quiet_publisher_events() -> Any:
    """``event_callbacks`` for ``create_publisher``: no default handlers."""
    return _without_defaults('PublisherEventCallbacks')


def quiet_subscription_events() -> Any:
    """``event_callbacks`` for ``create_subscription``: no default handlers."""
    return _without_defaults('SubscriptionEventCallbacks')
