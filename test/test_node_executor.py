"""NodeExecutor on a real rclpy graph: callbacks inline on the spinning thread, services on a
pool, so a service that waits does not hold up messages; callback groups and errors behave
as in rclpy's own executors."""
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup  # noqa: E402
from std_msgs.msg import Int32  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from rar_tracking.ros.executor import NodeExecutor  # noqa: E402
from ros_helpers import isolate_ros_domain, poll_until  # noqa: E402

pytestmark = pytest.mark.ros


class BlockingServer:
    """A node with a topic and two services whose callbacks wait for ``release``."""

    def __init__(self, context, name: str):
        self.node = rclpy.create_node(name, context=context)
        self.release = threading.Event()
        self.received: list[int] = []
        self.callback_threads: set[str] = set()
        self.service_threads: set[str] = set()
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()
        group = MutuallyExclusiveCallbackGroup()
        self.node.create_subscription(Int32, 'numbers', self._on_number, 100)
        self.node.create_service(Trigger, 'wait_a', self._on_wait, callback_group=group)
        self.node.create_service(Trigger, 'wait_b', self._on_wait, callback_group=group)

    def _on_number(self, msg):
        self.callback_threads.add(threading.current_thread().name)
        self.received.append(msg.data)

    def _on_wait(self, request, response):
        with self._lock:
            self.service_threads.add(threading.current_thread().name)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        response.success = self.release.wait(20.0)
        with self._lock:
            self.running -= 1
        response.message = 'released'
        return response


@pytest.fixture
def graph(ros_context):
    isolate_ros_domain()
    server = BlockingServer(ros_context, f'blocking_server_{time.monotonic_ns()}')
    client = rclpy.create_node(f'executor_client_{time.monotonic_ns()}', context=ros_context)
    executor = NodeExecutor(2, context=ros_context)
    executor.add_node(server.node)
    client_executor = NodeExecutor(1, context=ros_context)
    client_executor.add_node(client)
    spinners = [threading.Thread(target=e.spin, name=n, daemon=True)
                for e, n in ((executor, 'server_spin'), (client_executor, 'client_spin'))]
    for thread in spinners:
        thread.start()
    yield server, client, executor
    server.release.set()
    for e in (executor, client_executor):
        e.shutdown(timeout_sec=2.0)
    for thread in spinners:
        thread.join(5.0)
    server.node.destroy_node()
    client.destroy_node()


def test_messages_keep_arriving_while_services_wait(graph):
    server, client, _ = graph
    pub = client.create_publisher(Int32, 'numbers', 100)
    callers = [client.create_client(Trigger, name) for name in ('wait_a', 'wait_b')]
    assert poll_until(lambda: all(c.service_is_ready() for c in callers)
                      and pub.get_subscription_count() > 0, 10.0)
    futures = [c.call_async(Trigger.Request()) for c in callers]
    assert poll_until(lambda: server.running == 1, 5.0), 'a service callback started'
    for i in range(50):
        pub.publish(Int32(data=i))
        time.sleep(0.002)
    assert poll_until(lambda: len(server.received) == 50, 5.0), \
        f'{len(server.received)} of 50 messages handled while a service waited'
    assert server.received == list(range(50))
    assert not any(f.done() for f in futures)

    server.release.set()
    assert poll_until(lambda: all(f.done() for f in futures), 10.0)
    assert [f.result().message for f in futures] == ['released', 'released']
    # Subscriptions run on the spinning thread itself; services never do, and the two
    # services of one mutually exclusive group never ran at the same time.
    assert server.callback_threads == {'server_spin'}
    assert server.service_threads and 'server_spin' not in server.service_threads
    assert server.most_running == 1


def test_an_error_in_a_callback_reaches_spin_once(ros_context):
    isolate_ros_domain()
    node = rclpy.create_node(f'failing_{time.monotonic_ns()}', context=ros_context)
    executor = NodeExecutor(1, context=ros_context)
    executor.add_node(node)

    def fail():
        raise RuntimeError('callback failed')

    node.create_timer(0.01, fail)
    try:
        with pytest.raises(RuntimeError, match='callback failed'):
            for _ in range(100):
                executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()


def test_a_camera_with_incompatible_qos_is_reported_by_the_node(module_ros_context, capfd):
    """The image subscription keeps rclpy's QoS event handler (the outputs drop theirs):
    a best-effort camera meeting ``image_reliability: reliable`` is named in the log."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from ros_helpers import TrackerSession

    session = TrackerSession(module_ros_context, {'image_reliability': 'reliable'})
    try:
        camera = session.client.node.create_publisher(Image, 'image', qos_profile_sensor_data)
        log: list[str] = []

        def reported() -> bool:  # the node's line, not the camera's own (publisher-side) one
            log.extend(capfd.readouterr().err.splitlines())
            return any('rar_tracker]' in line and 'New publisher discovered' in line
                       and 'incompatible QoS' in line for line in log)

        assert poll_until(reported, 10.0), '\n'.join(log[-10:])
        camera.destroy()
    finally:
        session.close()
