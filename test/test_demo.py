"""The demo end to end: real child processes, the real ~/set_target, a scored recording."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytest.importorskip('rclpy', reason='rclpy (ROS 2) is not installed')
cv2 = pytest.importorskip('cv2')

from rar_tracking import TrackerConfig  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 40


def run_demo(tmp_path, *args, timeout=300):
    from ros_helpers import isolate_ros_domain

    isolate_ros_domain()
    out = tmp_path / 'out'
    cmd = [sys.executable, '-m', 'rar_tracking.ros.demo', '--output', str(out),
           '--namespace', 'demo_test_' + uuid.uuid4().hex[:8], *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp_path,
                          env=dict(os.environ))
    return proc, out


def children_of_this_run(namespace_hint: str) -> list[str]:
    ps = subprocess.run(['ps', '-eo', 'args'], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if namespace_hint in line]


def test_demo_tracks_a_generated_scene_and_writes_its_outputs(tmp_path):
    proc, out = run_demo(tmp_path, '--frames', str(FRAMES), '--device', 'cpu',
                         '--param', 'crop_size:=129')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / 'summary.json').read_text())

    assert summary['frames_recorded'] == FRAMES, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert summary['frames_processed'] >= FRAMES - 3  # paced by the tracker: nearly all
    assert summary['ground_truth'] is True
    assert summary['frames_scored'] == summary['frames_processed']
    assert summary['mean_iou'] > 0.4, summary
    assert summary['tracker']['device'] == 'cpu'
    assert summary['tracker']['trunk'] == 'efficientnet_lite0'
    # profile and backend auto on a CPU: balanced on ONNX Runtime when installed, else fast
    auto = TrackerConfig(profile='auto', backend='auto').resolved('cpu')
    expected = ('balanced (crop 129, onnxruntime)' if auto.backend == 'onnxruntime'
                else 'fast (crop 129)')
    assert summary['tracker']['profile'] == expected
    assert summary['processing_rate_hz'] > 0 and summary['mean_latency_ms'] > 0
    assert 0.0 <= summary['mean_confidence'] <= 1.0
    assert 'mean IoU' in proc.stdout and 'processing rate' in proc.stdout

    video = Path(summary['video'])
    assert video.parent == out and video.suffix in ('.mp4', '.avi')
    cap = cv2.VideoCapture(str(video))
    frames = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        assert frame.shape == (240, 320, 3)
        frames += 1
    assert frames == FRAMES
    assert summary['debug_images_recorded'] >= summary['frames_processed'] - 3

    with open(out / 'tracks.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == FRAMES
    assert [int(r['source_index']) for r in rows] == list(range(FRAMES))
    scored = [float(r['iou']) for r in rows if r['iou']]
    assert abs(sum(scored) / len(scored) - summary['mean_iou']) < 1e-3
    # Both child processes were stopped.
    assert (out / 'logs' / 'rar_tracker.log').is_file()
    assert not children_of_this_run(summary['command'].split('--namespace ')[1].split()[0])


def test_demo_fails_clearly_when_the_node_never_answers(tmp_path):
    # A tracker that cannot be built never offers ~/set_target: the demo must say so.
    proc, out = run_demo(tmp_path, '--frames', '5', '--device', 'cpu',
                         '--param', 'crop_size:=9999', timeout=120)
    assert proc.returncode == 1
    assert 'rar_tracker exited with code' in proc.stderr
    assert 'crop_size' in proc.stderr  # the node's own reason, from its log
    assert not (out / 'summary.json').exists()


def test_demo_rejects_a_video_without_a_box(tmp_path):
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (64, 48))
    writer.write(__import__('numpy').zeros((48, 64, 3), 'uint8'))
    writer.release()
    proc, _ = run_demo(tmp_path, '--video', str(video), timeout=60)
    assert proc.returncode == 1 and '--box' in proc.stderr


@pytest.mark.shared_data
def test_demo_on_a_real_sequence(tmp_path, shared_data):
    proc, out = run_demo(tmp_path, '--sequence', 'Girl', '--data', str(shared_data),
                         '--frames', '12', '--device', 'cpu', '--param', 'crop_size:=129')
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['input'].startswith('sequence Girl')
    assert summary['frames_recorded'] == 12 and summary['frames_scored'] >= 9
    assert summary['mean_iou'] > 0.4, summary
