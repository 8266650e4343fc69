"""``python -m rar_tracking.vot`` as the VOT toolkit runs it: a TraX client from vot-trax starts
the tracker as its own process and talks the protocol over its pipes.

- A generated sequence, rectangle region, image paths: the answers follow the target and carry
  a confidence.
- A polygon region and encoded image buffers: polygons come back; an image that does not exist
  ends the session with a TraX quit naming the file.
- Garbage on the protocol channel: the tracker exits with an error instead of hanging.
"""
from __future__ import annotations

import math
import subprocess
import sys

import cv2
import numpy as np
import pytest

from rar_tracking.types import Box
from rar_tracking.vot import RequestError, box_to_polygon, polygon_to_box

trax = pytest.importorskip('trax', reason='vot-trax is not installed')
from trax import BufferImage, FileImage, Polygon, Rectangle, TraxException  # noqa: E402
from trax.client import Client  # noqa: E402

FAST = ['--trunk', 'efficientnet_lite0', '--device', 'cpu', '--param', 'crop_size=129']


# ----------------------------------------------------------------------------- regions
def test_polygon_of_an_axis_aligned_box_is_that_box():
    box = Box(10.0, 20.0, 30.0, 40.0)
    assert polygon_to_box(box_to_polygon(box)) == box


def test_rotated_polygon_keeps_centre_and_area():
    # A 20x20 square rotated by 45 degrees around (50, 60): its hull is 28.3 wide.
    half = 10 * math.sqrt(2)
    square = [(50, 60 - half), (50 + half, 60), (50, 60 + half), (50 - half, 60)]
    box = polygon_to_box(square)
    assert box.center == pytest.approx((50.0, 60.0))
    assert box.w * box.h == pytest.approx(400.0)
    assert box.w == pytest.approx(box.h)


@pytest.mark.parametrize('points', [[(0, 0), (10, 0)], [(0, 0), (5, 0), (10, 0)],
                                    [(0, 0), (1, 1), (float('nan'), 2)]])
def test_degenerate_polygons_are_refused(points):
    with pytest.raises(RequestError):
        polygon_to_box(points)


# ----------------------------------------------------------------------------- sessions
class Session:
    """The tracker process and a vot-trax client on its stdin/stdout, as the toolkit runs it."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, '-m', 'rar_tracking.vot', *FAST],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        # vot-trax 4.0.2's Client needs a logger callable (log=False fails in ctypes).
        self.client = Client(stream=(self.proc.stdin.fileno(), self.proc.stdout.fileno()),
                             log=lambda message: None)

    def wait(self, timeout: float = 60.0) -> tuple[int, str]:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise AssertionError('the tracker process did not exit') from None
        return self.proc.returncode, err.decode(errors='replace')

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture(scope='module')
def sequence(tmp_path_factory):
    """A generated 20-frame sequence written as JPEG files (what the toolkit sends: paths)."""
    from rar_tracking.data.synthetic import make_sequence

    seq = make_sequence(num_frames=20, size=(320, 240), seed=5, speed=5.0)
    folder = tmp_path_factory.mktemp('vot_sequence')
    paths = []
    for i in range(len(seq.gt)):
        path = folder / f'{i + 1:08d}.jpg'
        cv2.imwrite(str(path), cv2.cvtColor(seq.frame(i), cv2.COLOR_RGB2BGR))
        paths.append(str(path))
    return paths, seq.gt


def _confidence(properties: dict) -> float:
    value = float(properties['confidence'])
    assert 0.0 <= value <= 1.0
    return value


@pytest.mark.slow
def test_trax_session_follows_the_target(sequence):
    paths, gt = sequence
    session = Session()
    try:
        client = session.client
        assert client.tracker_name == 'RAR'
        assert {'rectangle', 'polygon'} <= set(client.region_formats)
        assert 'path' in client.image_formats
        objects, _ = client.initialize({'color': FileImage.create(paths[0])},
                                       [(Rectangle.create(*gt[0]), {})], {})
        region, properties = objects[0]
        assert region.bounds() == pytest.approx(tuple(gt[0]), abs=1e-3)
        assert _confidence(properties) == 1.0
        ious, errors = [], []
        for path, truth in zip(paths[1:], gt[1:]):
            objects, _ = client.frame({'color': FileImage.create(path)}, {}, [])
            region, properties = objects[0]
            _confidence(properties)
            box, true_box = Box(*region.bounds()), Box(*truth)
            ious.append(box.iou(true_box))
            errors.append(math.dist(box.center, true_box.center))
        travelled = math.dist(Box(*gt[0]).center, Box(*gt[-1]).center)
        print(f'TraX session: mean IoU {np.mean(ious):.3f}, last centre error '
              f'{errors[-1]:.1f} px, target travelled {travelled:.1f} px')
        assert travelled > 40  # the target really moved
        assert np.mean(ious) > 0.5 and min(ious) > 0.3
        assert errors[-1] < travelled / 4  # the box moved with it
        client.quit()
        code, err = session.wait()
        assert code == 0, err
    finally:
        session.close()


@pytest.mark.slow
def test_polygon_and_buffer_then_a_missing_image_ends_with_a_reason(sequence, tmp_path):
    paths, gt = sequence
    session = Session()
    try:
        client = session.client
        polygon = Polygon.create(box_to_polygon(Box(*gt[0])))
        with open(paths[0], 'rb') as f:
            first = BufferImage.create(f.read())
        objects, _ = client.initialize({'color': first}, [(polygon, {})], {})
        assert objects[0][0].type == 'polygon'
        for path, truth in zip(paths[1:4], gt[1:4]):
            with open(path, 'rb') as f:
                objects, _ = client.frame({'color': BufferImage.create(f.read())}, {}, [])
            region, properties = objects[0]
            assert region.type == 'polygon' and region.size() == 4
            points = [region.get(i) for i in range(4)]
            assert polygon_to_box(points).iou(Box(*truth)) > 0.5
            _confidence(properties)
        missing = str(tmp_path / 'no_such_frame.jpg')
        with pytest.raises(TraxException, match='image file does not exist: .*no_such_frame'):
            client.frame({'color': FileImage.create(missing)}, {}, [])
        code, err = session.wait()
        assert code == 2 and 'no_such_frame' in err
    finally:
        session.close()


@pytest.mark.slow
def test_malformed_protocol_message_ends_the_tracker():
    """Raw garbage after the handshake: the tracker must exit with an error, not hang."""
    proc = subprocess.Popen([sys.executable, '-m', 'rar_tracking.vot', *FAST],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        hello = proc.stdout.readline()
        assert hello.startswith(b'@@TRAX:hello'), hello
        proc.stdin.write(b'@@TRAX:initialize this-is-not "a valid" request\n')
        proc.stdin.flush()  # stdin stays open: the message itself must end the session
        proc.wait(timeout=120)  # the tracker's stderr is a few lines: the pipe cannot fill
        err = proc.stderr.read()
        assert proc.returncode == 1, err
        assert b'malformed TraX request' in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
