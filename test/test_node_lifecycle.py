"""The managed rar_tracker node on a real rclpy graph, driven only through its lifecycle
services (get_state, change_state) as ``ros2 lifecycle`` or a lifecycle manager does: what
exists and what is refused in each state, the network kept over deactivate and freed by
cleanup, shutdown from every state, and ``rar_tracker_node --lifecycle --autostart`` as a
process."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
import weakref

import pytest

rclpy = pytest.importorskip('rclpy')
pytest.importorskip('rar_tracking_msgs.msg')

from lifecycle_msgs.msg import State, Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from rar_tracking.data.synthetic import make_sequence  # noqa: E402
from rar_tracking.ros.lifecycle import RARLifecycleTrackerNode  # noqa: E402
from rar_tracking.types import TrackState  # noqa: E402
from ros_helpers import (FAST_PARAMETERS, TrackerClient, spin_in_thread,  # noqa: E402
                         stop_process)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
_count = iter(range(1, 1000))


class Managed:
    """A managed tracker node and a client in a fresh namespace, spinning."""

    def __init__(self, context):
        self.namespace = f'/rar_lc_{os.getpid()}_{next(_count)}'
        self.node = RARLifecycleTrackerNode(
            context=context, namespace=self.namespace,
            parameter_overrides=[Parameter(k, value=v) for k, v in FAST_PARAMETERS.items()])
        self.client = TrackerClient(self.namespace, context=context)
        lc = self.client.node
        self.get_state_client = lc.create_client(GetState, 'rar_tracker/get_state')
        self.change_state_client = lc.create_client(ChangeState, 'rar_tracker/change_state')
        self.executor = spin_in_thread([self.node, self.client.node], context)
        assert self.client.wait_for(lambda: self.change_state_client.service_is_ready()
                                    and self.get_state_client.service_is_ready(), 20.0)

    def state(self) -> str:
        return self.client.call(self.get_state_client, GetState.Request()).current_state.label

    def change(self, transition: int) -> bool:
        request = ChangeState.Request()
        request.transition.id = transition
        return self.client.call(self.change_state_client, request, timeout=120.0).success

    def close(self):
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self.client.destroy()


@pytest.fixture(scope='module')
def sequence():
    return make_sequence(8, (320, 240), seed=4, speed=2.0)


def _publish_buffered(m: Managed, rgb) -> int:
    stamp = m.client.now_ns()
    m.client.publish_rgb(rgb, stamp)
    assert m.client.wait_for(lambda: m.node._inbox.find(stamp) is not None, 5.0)
    return stamp


def test_transitions_through_the_lifecycle_services(module_ros_context, sequence):
    m = Managed(module_ros_context)
    client = m.client
    logs = []
    client.node.create_subscription(Log, '/rosout', logs.append, 100)
    try:
        assert m.state() == 'unconfigured'
        assert not client.wait_for(client.set_target_client.service_is_ready, 1.0)

        assert m.change(Transition.TRANSITION_CONFIGURE)
        assert m.state() == 'inactive'
        network = m.node._tracker
        assert network is not None  # configure loaded it
        # Inactive: a frame is not taken, set_target and reset are refused, saying why.
        assert client.wait_for(client.set_target_client.service_is_ready, 10.0)
        inactive_stamp = client.now_ns()
        client.publish_rgb(sequence.frame(0), inactive_stamp)
        # The node says why the image is not used (on /rosout, as ros2 launch shows it).
        assert client.wait_for(lambda: any(
            'image refused: the node is inactive' in log.msg and 'activate' in log.msg
            for log in logs), 10.0)
        response = client.set_target(sequence.gt[0])
        assert not response.success
        assert 'inactive' in response.message and 'activate' in response.message
        reset = client.reset()
        assert not reset.success and 'inactive' in reset.message
        time.sleep(0.5)
        assert m.node._inbox.newest() is None and not client.snapshot()

        assert m.change(Transition.TRANSITION_ACTIVATE)
        assert m.state() == 'active'
        stamp = _publish_buffered(m, sequence.frame(0))
        assert m.node._inbox.find(inactive_stamp) is None
        assert client.set_target(sequence.gt[0], stamp).success
        assert client.wait_for(lambda: client.targets_for(stamp), 10.0)
        for i in range(1, 3):
            msg = _track(m, sequence.frame(i))
            assert msg is not None and msg.state == TrackState.TRACKING

        # Deactivate: processing stops, the target is cleared, the network stays.
        assert m.change(Transition.TRANSITION_DEACTIVATE)
        assert m.state() == 'inactive'
        assert client.wait_for(lambda: client.snapshot()[-1].state == TrackState.IDLE, 5.0)
        assert m.node._tracker is network
        assert not client.set_target(sequence.gt[0]).success
        assert m.change(Transition.TRANSITION_ACTIVATE)
        stamp = _publish_buffered(m, sequence.frame(3))
        assert client.set_target(sequence.gt[3], stamp).success
        assert m.node._tracker is network  # the same network, not reloaded

        # Cleanup: the network and the node's interfaces go; configure brings them back.
        assert m.change(Transition.TRANSITION_DEACTIVATE)
        alive = weakref.ref(network)
        del network
        assert m.change(Transition.TRANSITION_CLEANUP)
        assert m.state() == 'unconfigured'
        assert m.node._tracker is None
        gc.collect()
        assert alive() is None, 'the network is still referenced after cleanup'
        assert client.wait_for(lambda: not client.set_target_client.service_is_ready(), 10.0)
        assert m.change(Transition.TRANSITION_CONFIGURE)
        assert m.node._tracker is not None
        assert m.node.get_parameter('crop_size').value == FAST_PARAMETERS['crop_size']
        assert m.change(Transition.TRANSITION_ACTIVATE)
        stamp = _publish_buffered(m, sequence.frame(5))
        assert client.set_target(sequence.gt[5], stamp).success

        # Shutdown from active.
        assert m.change(Transition.TRANSITION_ACTIVE_SHUTDOWN)
        assert m.state() == 'finalized'
        assert m.node._tracker is None
    finally:
        m.close()


def _track(m: Managed, rgb):
    """Publish one frame; its TrackedTarget (None when none came)."""
    stamp = m.client.now_ns()
    m.client.publish_rgb(rgb, stamp)
    if m.client.wait_for(lambda: m.client.targets_for(stamp), 15.0):
        return m.client.targets_for(stamp)[0]
    return None


@pytest.mark.parametrize('configure', [False, True], ids=['unconfigured', 'inactive'])
def test_shutdown_from_unconfigured_and_inactive(module_ros_context, configure):
    m = Managed(module_ros_context)
    try:
        transition = Transition.TRANSITION_UNCONFIGURED_SHUTDOWN
        if configure:
            assert m.change(Transition.TRANSITION_CONFIGURE)
            transition = Transition.TRANSITION_INACTIVE_SHUTDOWN
        assert m.change(transition)
        assert m.state() == 'finalized'
        assert m.node._tracker is None
        assert not m.change(Transition.TRANSITION_CONFIGURE)  # finalized is final
    finally:
        m.close()


def test_configure_with_a_bad_parameter_fails_and_stays_unconfigured(module_ros_context):
    namespace = f'/rar_lc_bad_{os.getpid()}'
    node = RARLifecycleTrackerNode(
        context=module_ros_context, namespace=namespace,
        parameter_overrides=[Parameter(k, value=v) for k, v in FAST_PARAMETERS.items()]
        + [Parameter('weights', value='/no/such/weights.safetensors')])
    try:
        from rclpy.lifecycle import TransitionCallbackReturn
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node._state_machine.current_state[0] == State.PRIMARY_STATE_UNCONFIGURED
    finally:
        node.destroy_node()


def test_autostart_process_is_active(module_ros_context):
    """``rar_tracker_node --lifecycle --autostart`` configures and activates itself."""
    from ros_helpers import isolate_ros_domain

    isolate_ros_domain()
    namespace = f'/rar_lc_proc_{os.getpid()}'
    cmd = [sys.executable, '-m', 'rar_tracking.node', '--lifecycle', '--autostart',
           '--ros-args', '-r', f'__ns:={namespace}']
    for key, value in FAST_PARAMETERS.items():
        cmd += ['-p', f'{key}:={value}']
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    client = TrackerClient(namespace, context=module_ros_context, name='lc_probe')
    get_state = client.node.create_client(GetState, 'rar_tracker/get_state')
    executor = spin_in_thread([client.node], module_ros_context)
    try:
        assert client.wait_for(lambda: proc.poll() is not None or (
            get_state.service_is_ready() and client.set_target_client.service_is_ready()),
            120.0), 'the managed node did not come up'
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        state = client.call(get_state, GetState.Request()).current_state
        assert (state.id, state.label) == (State.PRIMARY_STATE_ACTIVE, 'active')
    finally:
        executor.shutdown(timeout_sec=2.0)
        client.destroy()
        stop_process(proc)


def test_unknown_flag_is_refused():
    result = subprocess.run([sys.executable, '-m', 'rar_tracking.node', '--lifecycel',
                             '--ros-args', '-p', 'device:=cpu'], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "unknown argument(s) ['--lifecycel']" in result.stderr
