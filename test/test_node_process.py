"""``python -m rar_tracking.node`` as its own process: shipped params file, CUDA fallback,
services over the wire, clean shutdown on SIGINT, and a clear exit for bad parameters."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

rclpy = pytest.importorskip('rclpy')
pytest.importorskip('rar_tracking_msgs.msg')

from rar_tracking.data.synthetic import make_sequence  # noqa: E402
from ros_helpers import (  # noqa: E402
    FAST_PARAMETERS, TrackerClient, spin_in_thread)

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def node_command(namespace: str, params_file: bool = True, **params) -> list[str]:
    values = dict(FAST_PARAMETERS, **params)
    cmd = [sys.executable, '-m', 'rar_tracking.node', '--ros-args', '-r', f'__ns:={namespace}']
    if params_file:
        cmd += ['--params-file', str(ROOT / 'config' / 'rar_tracker.yaml')]
    for key, value in values.items():
        cmd += ['-p', f'{key}:={value}']
    return cmd


def test_node_process_falls_back_to_cpu_serves_and_stops_on_sigint(module_ros_context):
    import torch

    namespace = f'/rar_proc_{os.getpid()}'
    proc = subprocess.Popen(node_command(namespace, device='cuda'), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = TrackerClient(namespace, context=module_ros_context)
    executor = spin_in_thread([client.node], module_ros_context)
    try:
        assert client.wait_ready(90.0), 'the node process did not come up'
        name = f'{namespace}/rar_tracker: tracker'

        def status():
            found = [s for a in client.snapshot('diagnostics') for s in a.status
                     if s.name == name]
            return found[-1] if found else None

        assert client.wait_for(lambda: status() is not None, 10.0)
        values = {kv.key: kv.value for kv in status().values}
        assert values['requested_device'] == 'cuda'
        if not torch.cuda.is_available():
            assert status().hardware_id == 'cpu' and values['device'] == 'cpu'
            assert status().level == b'\x01'  # WARN: running on a fallback device
            assert "device 'cuda' is not usable" in status().message

        response = client.set_target((10, 10, 20, 20))
        assert not response.success and 'no image received yet' in response.message
        sequence = make_sequence(3, (320, 240), seed=0, speed=2.0)
        stamp = client.now_ns()
        client.publish_rgb(sequence.frame(0), stamp)
        assert client.wait_for(lambda: client.set_target(sequence.gt[0], stamp).success, 10.0,
                               period=0.2)
        stamp = client.now_ns()
        client.publish_rgb(sequence.frame(1), stamp)
        assert client.wait_for(lambda: client.targets_for(stamp), 15.0)
    finally:
        executor.shutdown(timeout_sec=2.0)
        client.destroy()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f'the node did not stop on SIGINT:\n{err[-3000:]}')
    assert proc.returncode == 0, err[-3000:]
    assert 'processed 2 of 2 frames' in err, err[-3000:]
    # Issue 11, defect 8: the summary is logged before the context goes, not after.
    assert 'Failed to publish log message to rosout' not in err, err[-3000:]


@pytest.mark.parametrize('param,value,words', [
    ('trunk', 'vgg', "trunk: 'vgg' is not one of"),
    ('crop_size', 'big', 'crop_size'),
    ('lost_threshold', '7.0', 'lost_threshold'),
])
def test_bad_parameters_stop_the_node_with_a_reason(param, value, words):
    # Without the params file: rcl lets a file value win over a '-p' of another type.
    proc = subprocess.run(node_command(f'/rar_bad_{os.getpid()}', params_file=False,
                                       **{param: value}),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'cannot start' in proc.stderr and words in proc.stderr, proc.stderr[-3000:]
