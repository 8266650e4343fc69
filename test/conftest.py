"""Shared fixtures: torch on one CPU thread (see README, 'Threads'), a fast tracker config."""
import os
from pathlib import Path

import pytest

os.environ.setdefault('OMP_NUM_THREADS', '1')

import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / 'shared' / 'data' / 'tracking'


@pytest.fixture(scope='session')
def fast_config():
    """The tracker configuration the tests use: real ImageNet Lite0 features, small crops."""
    from rar_tracking import TrackerConfig
    return TrackerConfig(trunk='efficientnet_lite0', crop_size=129, device='cpu')


@pytest.fixture(scope='session')
def shared_data():
    if not (SHARED_DATA / 'manifest.json').is_file():
        pytest.skip(f'real sequences not found at {SHARED_DATA}')
    return SHARED_DATA


@pytest.fixture(scope='module')
def context():
    """A private rclpy context per test module, in this run's own ROS domain."""
    import rclpy
    from rar_tracking.ros.testing import isolate_ros_domain
    isolate_ros_domain()
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


@pytest.fixture
def ctx():
    """A fresh rclpy context for one test."""
    import rclpy
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()
