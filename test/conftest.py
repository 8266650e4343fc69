"""Shared fixtures: torch on one CPU thread (see README, 'Threads'), a fast tracker config,
rclpy contexts (``ros_context`` per test, ``module_ros_context`` per module).

The ROS test scaffolding (nodes driving a tracker) is in ``ros_helpers.py`` beside this file.
"""
import os
from pathlib import Path

import pytest

os.environ.setdefault('OMP_NUM_THREADS', '1')

import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]


def _has_contrib_trackers() -> bool:
    import cv2
    return hasattr(cv2, 'TrackerCSRT_create') and hasattr(cv2, 'TrackerKCF_create')


# CSRT and KCF come with opencv-contrib (requirements.txt installs it); plain opencv-python, as on
# GPU images or from a distribution's package, lacks them: those tests skip there, saying why.
needs_contrib = pytest.mark.skipif(not _has_contrib_trackers(),
                                   reason='needs OpenCV CSRT and KCF (opencv-contrib-python)')
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
def module_ros_context():
    """A private rclpy context per test module, in this run's own ROS domain."""
    import rclpy
    from ros_helpers import isolate_ros_domain
    isolate_ros_domain()
    ros_context = rclpy.Context()
    rclpy.init(context=ros_context)
    yield ros_context
    rclpy.shutdown(context=ros_context)


@pytest.fixture
def ros_context():
    """A fresh rclpy context for one test."""
    import rclpy
    ros_context = rclpy.Context()
    rclpy.init(context=ros_context)
    yield ros_context
    ros_context.try_shutdown()
