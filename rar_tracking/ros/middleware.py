"""Fast DDS settings for camera-sized images between processes on one machine.

Measured on the 2-core development machine (3 December 2026, ``python -m
rar_tracking.ros.stress.transport``; docs/node.md, "Large images over Fast DDS"): a plain
rclpy publisher of 640x480 rgb8 images at 30 Hz (reliable, depth 10) and a plain rclpy
subscriber in another process, beside a thread busy with torch as the tracker's. With Fast
DDS's default transports (shared memory from a 512 KiB segment, and UDPv4) every image
arrived, but in the sixth minute 1,044 of 1,771 reached the callback more than a frame after
the middleware had received them (up to 0.33 s; up to 0.9 s in the node's soaks, where only
its 0.5 s diagnostics timer woke the executor). With the publisher's segment at 16 MiB (this
module's profile): none of 10,801 in 6 minutes, 16 ms at most. Over best effort the default
segment delivered 41% of the images, 16 MiB all of them. UDP alone was late from the first
minute; ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` on both sides was on time too, but a
participant with it and one without did not exchange a single image, so it is not a choice a
node can make for itself.

The profile therefore matters in the process that *publishes* images: the camera driver (or
``rar_video_source``), and the tracker for its debug image. It keeps the default transports
and only enlarges the segment, so processes that use it and processes that do not still talk.
It is applied by setting ``FASTDDS_DEFAULT_PROFILES_FILE`` before the process creates its
first participant, never over a profile file the user set, and only for Fast DDS (the
default RMW). This package's processes that publish images do so for themselves
(``rar_video_source``, ``rar_tracker_node``, the stress tool's camera), however they are
started (launch files, the demo, ``ros2 run``). For a camera driver of your own::

    export FASTDDS_DEFAULT_PROFILES_FILE=$(python -m rar_tracking.ros.middleware)

``RAR_FASTDDS_PROFILE=default`` keeps this package's processes on Fast DDS's defaults.

May import: the standard library.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

PROFILE_ENV = 'FASTDDS_DEFAULT_PROFILES_FILE'
OPT_OUT_ENV = 'RAR_FASTDDS_PROFILE'  # 'default': leave Fast DDS's defaults (to compare)
LARGE_IMAGE_PROFILE = Path(__file__).with_name('fastdds_large_images.xml')
_FAST_DDS = ('', 'rmw_fastrtps_cpp', 'rmw_fastrtps_dynamic_cpp')


def uses_fast_dds(env: Mapping[str, str]) -> bool:
    """Whether a process with environment ``env`` runs Fast DDS (the default RMW)."""
    return env.get('RMW_IMPLEMENTATION', '').strip() in _FAST_DDS


def large_image_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables to add to ``env`` (default: this process's) so that a process started
    with it sends images from the larger shared-memory segment: ``{PROFILE_ENV: path}``, or
    ``{}`` when the RMW is not Fast DDS, a profile file is set already (the user's wins) or
    ``RAR_FASTDDS_PROFILE=default`` asks for Fast DDS's defaults."""
    env = os.environ if env is None else env
    if not uses_fast_dds(env) or env.get(PROFILE_ENV) or env.get(OPT_OUT_ENV) == 'default':
        return {}
    return {PROFILE_ENV: str(LARGE_IMAGE_PROFILE)}


def use_large_image_profile() -> str:
    """Apply :func:`large_image_environment` to this process; call it before ``rclpy.init``.
    Returns the profile file in force ('' when none)."""
    os.environ.update(large_image_environment())
    return os.environ.get(PROFILE_ENV, '')


if __name__ == '__main__':  # print the profile's path, for `export ...=$(python -m ...)`
    print(LARGE_IMAGE_PROFILE)
    sys.exit(0)
