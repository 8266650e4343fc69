"""The managed (lifecycle) variant of the ``rar_tracker`` node: ``rar_tracker_node --lifecycle``.

The same node as :class:`~.tracker_node.RARTrackerNode` (its methods, not a copy), driven by
the ROS 2 lifecycle state machine (rclpy.lifecycle) instead of its constructor:

- unconfigured: only the lifecycle services exist.
- configure: declares the parameters (a second configure keeps their values), loads the
  network, creates the publishers, subscriptions, services and diagnostics timer.
- inactive: everything exists, nothing is processed: images are dropped (an info log at most
  every 10 s), ``~/set_target``, clicks and ``~/reset`` are refused with a message that says
  so, no diagnostics.
- activate: starts the tracker thread and lets images, requests and diagnostics through.
- deactivate: stops processing and clears the target (the network stays loaded); activate
  again to go on.
- cleanup: stops the tracker thread, destroys what configure created and frees the network
  (and the CUDA cache); shutdown does the same from any state.
May import: rclpy (lifecycle) and this package's tracker_node and worker.
"""
from __future__ import annotations

import gc

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from .tracker_node import NODE_NAME, RARTrackerNode
from .worker import ResetCommand

_ENTITY_KINDS = ('subscriptions', 'services', 'timers', 'publishers', 'clients')


class RARLifecycleTrackerNode(RARTrackerNode, LifecycleNode):
    """``rar_tracker`` as a managed node; ``tracker_factory`` as for RARTrackerNode."""

    def __init__(self, tracker_factory=None, node_name: str = NODE_NAME, **kwargs):
        # Not RARTrackerNode.__init__: that configures and starts at once.
        LifecycleNode.__init__(self, node_name, **kwargs)
        self._factory = tracker_factory
        self._worker = self._inbox = self._tracker = self._outputs = None
        self._active = False
        self._worker_started = False
        self._created: dict[str, list] = {}
        self.get_logger().info(
            f'managed node {self.get_fully_qualified_name()} is unconfigured: ros2 lifecycle '
            f'set {self.get_fully_qualified_name()} configure, then activate')

    # ------------------------------------------------------------------ transitions
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._declare_parameters()
            self._tracker = self._build_tracker(self._factory)
        except Exception as exc:  # bad parameter, weights, device: stay unconfigured
            self.get_logger().error(f'configure failed: {exc}')
            self._tracker = None
            return TransitionCallbackReturn.FAILURE
        before = self._entities()
        self._create_processing()
        self._create_inputs()
        after = self._entities()
        self._created = {kind: [e for e in after[kind] if e not in before[kind]]
                         for kind in _ENTITY_KINDS}
        self.get_logger().info(
            f'configured: network loaded on {self._device_str()} (trunk {self._trunk_str()}); '
            'inactive until activated')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if not self._worker_started:  # the first activation after configure
            self._worker.start()
            self._worker_started = True
        self._active = True
        self._log_ready()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._active = False
        self._inbox.post(ResetCommand('deactivate'))  # no stale target when activated again
        self.get_logger().info('deactivated: images and requests are refused until activated '
                               '(the network stays loaded)')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info('cleaned up: network freed; unconfigured')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.get_logger().info(f'shut down from {state.label}')
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    # ------------------------------------------------------------------ helpers
    def _entities(self) -> dict[str, list]:
        return {kind: list(getattr(self, kind)) for kind in _ENTITY_KINDS}

    def _release(self) -> None:
        """Undo configure: stop the thread, destroy its entities, free the network."""
        self._active = False
        if self._worker is not None and self._worker.stop(timeout=2.0):
            self.get_logger().info(self.summary())
        destroy = {'subscriptions': self.destroy_subscription, 'services': self.destroy_service,
                   'timers': self.destroy_timer, 'publishers': self.destroy_publisher,
                   'clients': self.destroy_client}
        for kind, entities in self._created.items():
            for entity in entities:
                destroy[kind](entity)
        self._created = {}
        if self._tracker is not None:
            self.remove_on_set_parameters_callback(self._check_parameters)
            self.remove_post_set_parameters_callback(self._apply_parameters)
        self._worker = self._inbox = self._tracker = self._outputs = None
        self._worker_started = False
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _inactive(self, what: str) -> str:
        return (f'{what} refused: the node is inactive (managed node); activate it first: '
                f'ros2 lifecycle set {self.get_fully_qualified_name()} activate')

    # ------------------------------------------------------------------ gated callbacks
    def _on_image(self, msg, *times: int) -> None:
        if not self._active:
            self.get_logger().info(self._inactive('image') + ' (logged at most every 10 s)',
                                   throttle_duration_sec=10.0)
            return
        super()._on_image(msg, *times)

    def _on_set_target(self, request, response):
        if not self._active:
            response.success, response.message, response.target_id = (
                False, self._inactive('~/set_target'), 0)
            self.get_logger().warning(response.message)
            return response
        return super()._on_set_target(request, response)

    def _click(self, x: float, y: float, stamp_ns: int, frame_id: str, source: str) -> None:
        if not self._active:
            self.get_logger().warning(self._inactive(source), throttle_duration_sec=1.0)
            return
        super()._click(x, y, stamp_ns, frame_id, source)

    def _on_reset(self, request, response):
        if not self._active:
            response.success, response.message = False, self._inactive('~/reset')
            return response
        return super()._on_reset(request, response)

    def _publish_diagnostics(self) -> None:
        if self._active:
            super()._publish_diagnostics()


def build_node(args: list[str] | None = None):
    """The node ``rar_tracker_node`` runs: the plain node, or with ``--lifecycle`` the managed
    one (left unconfigured; with ``--autostart`` configured and activated at once). The flags
    come before ``--ros-args``; ``args`` as for ``rclpy.init`` (None: ``sys.argv``)."""
    import sys

    from rclpy.utilities import remove_ros_args

    flags = remove_ros_args(sys.argv if args is None else args)[1:]
    unknown = [f for f in flags if f not in ('--lifecycle', '--autostart')]
    if unknown:
        raise ValueError(f'unknown argument(s) {unknown}: rar_tracker_node takes --lifecycle '
                         'and --autostart, before --ros-args')
    if not flags:
        return RARTrackerNode()
    node = RARLifecycleTrackerNode()
    if '--autostart' in flags:
        for step in (node.trigger_configure, node.trigger_activate):
            if step() != TransitionCallbackReturn.SUCCESS:
                node.destroy_node()
                raise RuntimeError(f'--autostart: {step.__name__[8:]} failed (the reason is '
                                   'logged above)')
    return node
