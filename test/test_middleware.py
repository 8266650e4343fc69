"""The large-image Fast DDS profile (rar_tracking/ros/middleware.py): when it is applied, and
that a process publishing with it reaches a subscriber without it over a real graph."""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rar_tracking.ros.middleware import (LARGE_IMAGE_PROFILE, OPT_OUT_ENV, PROFILE_ENV,
                                         large_image_environment, uses_fast_dds)

ROOT = Path(__file__).resolve().parents[1]
NS = '{http://www.eprosima.com}'


def test_the_profile_is_applied_only_for_fast_dds_and_never_over_the_users_file():
    assert large_image_environment({}) == {PROFILE_ENV: str(LARGE_IMAGE_PROFILE)}
    assert large_image_environment({'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp'}) \
        == {PROFILE_ENV: str(LARGE_IMAGE_PROFILE)}
    assert large_image_environment({'RMW_IMPLEMENTATION': 'rmw_cyclonedds_cpp'}) == {}
    assert large_image_environment({PROFILE_ENV: '/etc/my_profile.xml'}) == {}
    assert large_image_environment({OPT_OUT_ENV: 'default'}) == {}
    assert uses_fast_dds({'RMW_IMPLEMENTATION': 'rmw_fastrtps_dynamic_cpp'})
    assert not uses_fast_dds({'RMW_IMPLEMENTATION': 'rmw_zenoh_cpp'})


def test_the_profile_keeps_both_default_transports_and_enlarges_the_segment():
    root = ET.parse(LARGE_IMAGE_PROFILE).getroot()
    descriptors = {d.findtext(f'{NS}transport_id'): d
                   for d in root.iter(f'{NS}transport_descriptor')}
    kinds = sorted(d.findtext(f'{NS}type') for d in descriptors.values())
    assert kinds == ['SHM', 'UDPv4']  # the default transports: others still talk to it
    shm = next(d for d in descriptors.values() if d.findtext(f'{NS}type') == 'SHM')
    assert int(shm.findtext(f'{NS}segment_size')) >= 10 * 640 * 480 * 3
    participant = root.find(f'.//{NS}participant')
    assert participant.get('is_default_profile') == 'true'
    used = [t.text for t in participant.iter(f'{NS}transport_id')]
    assert sorted(used) == sorted(descriptors)
    assert participant.findtext(f'.//{NS}useBuiltinTransports') == 'false'


@pytest.mark.ros
@pytest.mark.slow
def test_a_publisher_with_the_profile_reaches_a_subscriber_without_it(tmp_path):
    """Fast DDS reads the file (the camera maps a 16 MiB segment, no parser error) and the
    images of the publisher that uses it arrive at a default subscriber, on time."""
    pytest.importorskip('rclpy')
    from ros_helpers import isolate_ros_domain
    isolate_ros_domain()
    out = tmp_path / 'transport.json'
    cmd = [sys.executable, '-m', 'rar_tracking.ros.stress.transport', '--minutes', '0.12',
           '--publisher', 'large-image', '--subscriber', 'default', '--no-busy-thread',
           '--rate', '15', '--json', str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != PROFILE_ENV})
    print(proc.stdout)
    assert proc.returncode == 0 and out.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result['publisher_profile'] == str(LARGE_IMAGE_PROFILE)
    assert not result['camera_errors'], result['camera_errors']
    # 7 s at 15 Hz, less discovery: most images arrive, and none waits a whole second
    assert result['received'] >= 40, result
    assert result['worst_ms'] < 1000, result
    if Path('/proc/self/maps').is_file():  # Linux: the camera sends from the profile's segment
        assert result['camera_largest_shm_mib'] >= 16, result


def test_the_profile_is_installed_with_the_package(tmp_path):
    """setup.py's package data carries the XML file (a colcon or pip install has it where
    ``LARGE_IMAGE_PROFILE`` looks), as it carries the shipped weights."""
    proc = subprocess.run([sys.executable, 'setup.py', '-q', 'build_py', '--build-lib',
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    built = tmp_path / LARGE_IMAGE_PROFILE.relative_to(ROOT)
    assert built.read_bytes() == LARGE_IMAGE_PROFILE.read_bytes()
    assert (tmp_path / 'rar_tracking' / 'weights').is_dir()
