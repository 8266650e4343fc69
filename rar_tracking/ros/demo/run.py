"""One demo run: the children, the demo's own rclpy node, the target, the recording, the outputs.

:class:`Demo` starts the two child processes, observes their topics with a private rclpy
context, sets the target through ``rar_tracker/set_target`` on the source's held first frame,
releases the source through its ``paused`` parameter and records until the frames are done.
May import: rclpy and ROS messages (lazily, so that ``--help`` stays fast), numpy, this
package's modules and :mod:`rar_tracking.ros` (image conversion, stamps).
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np

from ..stamps import ns_to_stamp, stamp_to_ns
from .options import DemoError, describe_input, tracker_parameters
from .processes import Child, child_commands
from .recording import FrameRecord, Recording, Scorer, VideoSink, msg_box


def _program_name() -> str:
    name = Path(sys.argv[0]).name
    return 'python -m rar_tracking.ros.demo' if name == '__main__.py' else name


class Demo:
    """One run: children, the observing node, the recording and the outputs."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out: Path = args.output
        self.ns = '/' + args.namespace.strip('/') if args.namespace.strip('/') else ''
        self.children: list[Child] = []
        self.rec = Recording()
        self.node = None
        self.ros_context = None
        self.executor = None
        self.has_gt = False
        self.init_stamp: int | None = None
        self.release_ns: int | None = None
        self.playing = False
        self.frames_seen = 0  # frames recorded, the first (target) frame included
        self.newest_target: int | None = None
        self.newest_image: int | None = None  # stamp of the newest recorded image
        self.limit = args.frames if args.seconds is None else 10 ** 9
        self.scorer: Scorer | None = None
        self.init_rgb: np.ndarray | None = None
        self.node_info: dict = {}  # the tracker's last /diagnostics key-values
        self.started = time.monotonic()

    # --- setup -----------------------------------------------------------------------
    def start_children(self) -> None:
        logs = self.out / 'logs'
        logs.mkdir(parents=True, exist_ok=True)
        for name, argv in child_commands(self.args, self.ns):
            self.children.append(Child(name, argv, logs))

    def start_ros(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from rclpy.signals import SignalHandlerOptions
        from sensor_msgs.msg import Image

        from rar_tracking_msgs.msg import TrackedTarget
        from rar_tracking_msgs.srv import SetTarget

        self.ros_context = rclpy.Context()
        # Ctrl-C stays a KeyboardInterrupt here, so that the demo can clean up its children.
        rclpy.init(context=self.ros_context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node('rar_demo', namespace=self.ns or '/',
                                      context=self.ros_context)
        best_effort = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT,
                                 durability=qos_profile_sensor_data.durability)
        reliable = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(Image, 'image', self.on_image, best_effort)
        self.node.create_subscription(TrackedTarget, 'video_source/ground_truth', self.on_gt,
                                      reliable)
        self.node.create_subscription(TrackedTarget, 'rar_tracker/target', self.on_target,
                                      reliable)
        self.node.create_subscription(
            Image, 'rar_tracker/debug_image', self.on_debug,
            QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT))
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self.on_diagnostics, 10)
        self.set_target = self.node.create_client(SetTarget, 'rar_tracker/set_target')
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.ros_context)
        self.executor.add_node(self.node)

    # --- callbacks -------------------------------------------------------------------
    def on_image(self, msg) -> None:
        from ..image_conversion import image_msg_to_rgb

        s = stamp_to_ns(msg.header.stamp)
        if self.init_stamp is None:
            # While the source holds frame 0: keep only the newest, to set the target on.
            self.rec.frames.clear()
            self.rec.frames[s] = FrameRecord(s, image_msg_to_rgb(msg))
            return
        if self.release_ns is None or s < self.release_ns:
            return  # a repeat of the held first frame
        if self.newest_image is not None and s <= self.newest_image:
            return  # re-sent by a paced source that feared the image was lost
        rgb = image_msg_to_rgb(msg)
        if not self.playing:
            # One repeat may be stamped after the release request: skip copies of frame 0.
            if np.array_equal(rgb, self.init_rgb):
                return
            self.playing = True
        self.rec.frames[s] = FrameRecord(s, rgb)
        self.newest_image = s
        self.frames_seen += 1

    def on_gt(self, msg) -> None:
        s = stamp_to_ns(msg.header.stamp)
        if self.init_stamp is not None and s < self.init_stamp:
            return
        if self.init_stamp is None:
            self.rec.gt.clear()  # keep only the newest while the first frame is held
        box = msg_box(msg) if msg.state == msg.STATE_TRACKING else None
        self.rec.gt[s] = (box, int(msg.target_id) - 1)

    def on_target(self, msg) -> None:
        s = stamp_to_ns(msg.header.stamp)
        if self.init_stamp is not None and s < self.init_stamp:
            return
        # Before the service answers, the result on the target frame may already be here.
        self.rec.targets[s] = (msg, time.time_ns())
        self.newest_target = s if self.newest_target is None else max(self.newest_target, s)

    def on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith(f'{self.ns}/rar_tracker:'):
                self.node_info = {kv.key: kv.value for kv in status.values}

    def on_debug(self, msg) -> None:
        s = stamp_to_ns(msg.header.stamp)
        if self.init_stamp is None or s < self.init_stamp or (
                s != self.init_stamp and (self.release_ns is None or s < self.release_ns)):
            return  # before the target, or a repeat of the held first frame
        from ..image_conversion import image_msg_to_rgb

        self.debug_sink.write(np.ascontiguousarray(image_msg_to_rgb(msg)[:, :, ::-1]))
        self.rec.debug_count += 1

    # --- helpers ---------------------------------------------------------------------
    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            self.executor.spin_once(timeout_sec=min(0.05, max(0.0, end - time.monotonic())))
            if time.monotonic() >= end:
                return

    def check_children(self) -> None:
        for child in self.children:
            if not child.alive():
                raise DemoError(f'{child.name} exited with code {child.proc.returncode} '
                                f'before the demo ended; its log ({child.log_path}) ends '
                                f'with:\n{child.tail()}')

    def wait_for(self, condition, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not condition():
            self.check_children()
            if time.monotonic() > end:
                logs = '\n'.join(f'  {c.name}: {c.log_path}\n{c.tail(8)}' for c in self.children)
                raise DemoError(f'{what} within {timeout:.0f} s. Logs:\n{logs}')
            self.spin(0.05)

    # --- the run ---------------------------------------------------------------------
    def run(self) -> dict:
        a = self.args
        self.out.mkdir(parents=True, exist_ok=True)
        # Videos play at the source rate; paced runs at a watchable 10 fps.
        fps = a.rate if a.pace == 'realtime' else 10.0
        self.debug_sink = VideoSink(self.out / 'debug_image', fps)
        self.scorer = Scorer(self.out, fps)
        self.start_children()
        self.start_ros()
        print(f'[demo] started video_source and rar_tracker in namespace {self.ns or "/"} '
              f'(logs in {self.out / "logs"}); waiting for the tracker (up to {a.timeout:.0f} s)',
              flush=True)
        self.wait_for(lambda: self.set_target.service_is_ready(), a.timeout,
                      'the tracker node never offered rar_tracker/set_target')
        self.wait_for(lambda: len(self.rec.frames) > 0, 30.0,
                      'no image arrived from video_source')
        self.set_initial_target()
        self.release_source()
        self.record()
        return self.finish()

    def set_initial_target(self) -> None:
        self.spin(0.5)  # let the tracker receive a few copies of the held first frame
        deadline = time.monotonic() + 20.0
        last = ''
        while time.monotonic() < deadline:
            self.check_children()
            stamp = next(reversed(self.rec.frames))
            gt = self.rec.gt.get(stamp)
            self.has_gt = bool(self.rec.gt)
            box = self.args.box if self.args.box is not None else (gt[0] if gt else None)
            if box is None:
                if gt is None and self.rec.gt:
                    self.spin(0.1)
                    continue  # ground truth of this frame not here yet
                raise DemoError('the first frame has no ground-truth box: give --box x,y,w,h')
            candidate = self.rec.frames[stamp]
            response = self._call_set_target(stamp, box)
            if response.success:
                self.init_stamp, self.init_box, self.init_rgb = stamp, box, candidate.rgb
                self.rec.frames = collections.OrderedDict({stamp: candidate})
                self.rec.gt = {stamp: gt} if gt else {}
                self.frames_seen = 1
                print(f'[demo] {response.message}', flush=True)
                return
            last = response.message
            self.spin(0.3)  # e.g. the tracker had not received that image yet: try a newer one
        raise DemoError(f'rar_tracker/set_target refused the target: {last}')

    def _call_set_target(self, stamp: int, box):
        from rar_tracking_msgs.srv import SetTarget

        request = SetTarget.Request()
        request.header.stamp = ns_to_stamp(stamp)
        request.header.frame_id = 'camera'
        request.center_x, request.center_y = box.center
        request.size_x, request.size_y = float(box.w), float(box.h)
        future = self.set_target.call_async(request)
        self.wait_for(future.done, self.args.timeout, 'rar_tracker/set_target did not answer')
        return future.result()

    def release_source(self) -> None:
        from rclpy.parameter import Parameter
        from rclpy.parameter_client import AsyncParameterClient

        client = AsyncParameterClient(self.node, f'{self.ns}/video_source')
        self.wait_for(lambda: client.services_are_ready(), 10.0,
                      'the video_source parameter services did not appear')
        self.release_ns = time.time_ns()
        future = client.set_parameters([Parameter('paused', value=False)])
        self.wait_for(future.done, 10.0, 'video_source did not accept paused:=false')
        if not future.result().results[0].successful:
            raise DemoError(f'video_source refused paused:=false: '
                            f'{future.result().results[0].reason}')
        self.record_start = time.monotonic()

    def record(self) -> None:
        a = self.args
        # A camera-like source is done when it has been silent for a few frame periods. A
        # source paced by the tracker sends the next image as soon as the tracker answered
        # the last one (re-sending an image it fears lost), so it is done when the newest
        # image was answered and nothing new came since; while the tracker still works on
        # an image, the demo waits as long as it waits for the tracker anywhere (--timeout).
        quiet = max(2.0, 5.0 / a.rate)
        last_seen, last_change = (0, None), time.monotonic()
        while True:
            self.spin(0.1)
            self.flush()
            self.check_children()
            now = time.monotonic()
            count = self.frames_seen
            seen = (count, self.newest_target)
            if seen != last_seen:
                last_seen, last_change = seen, now
            answered = self.newest_image is None or \
                (self.newest_target or 0) >= self.newest_image
            idle_limit = quiet if a.pace == 'realtime' or answered else a.timeout
            if a.seconds is not None:
                if now - self.record_start >= a.seconds:
                    break
            elif count >= a.frames:
                break
            if now - last_change > idle_limit:
                print(f'[demo] the source stopped after {count} frames', flush=True)
                break
        self._wait_for_last_result()

    def _wait_for_last_result(self) -> None:
        """Give the tracker time to finish the frame it holds."""
        if self.rec.frames:
            last_stamp = next(reversed(self.rec.frames))
            end = time.monotonic() + (5.0 if self.args.pace == 'realtime' else self.args.timeout)
            while time.monotonic() < end and (self.newest_target or 0) < last_stamp:
                self.spin(0.05)
        self.spin(0.2)

    # --- outputs ---------------------------------------------------------------------
    def flush(self, final: bool = False) -> None:
        """Score and write the frames whose fate is known (a result came for them or for a
        later frame); all of them when ``final``."""
        frames = self.rec.frames
        while frames:
            stamp, record = next(iter(frames.items()))
            decided = self.newest_target is not None and stamp <= self.newest_target
            if not (final or decided or len(frames) > 300):
                return
            del frames[stamp]
            if self.scorer.count >= self.limit:
                continue
            gt = self.rec.gt.pop(stamp, None)
            if gt is not None:
                record.gt, record.index = gt
            self.scorer.add(record, *self.rec.targets.pop(stamp, (None, None)))

    def finish(self, interrupted: bool = False) -> dict:
        """Close the outputs and write summary.json; returns the summary."""
        a = self.args
        self.flush(final=True)
        self.scorer.close()
        self.debug_sink.close()
        summary = {
            'input': describe_input(a),
            'tracker': {'trunk': self.node_info.get('trunk', a.trunk),
                        'device': self.node_info.get('device', a.device),
                        'profile': self.node_info.get('profile', a.profile),
                        'weights': a.weights or None,
                        'parameters': tracker_parameters(a),
                        'params_file': str(a.params_file) if a.params_file else None},
            'pace': a.pace,
            'source_rate_hz': a.rate,
            'init_box': [round(v, 3) for v in self.init_box.as_tuple()],
            **self.scorer.summary(),
            'ground_truth': self.has_gt,
            'debug_images_recorded': self.rec.debug_count,
            'debug_video': str(self.debug_sink.path) if self.debug_sink.path else None,
            'wall_time_s': round(time.monotonic() - self.started, 2),
            'interrupted': interrupted,
            'command': ' '.join([_program_name()] + sys.argv[1:]),
        }
        (self.out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
        return summary

    def close(self) -> dict:
        """Stop the children (tracker first) and the demo's node; their exit codes by name."""
        codes = {}
        for child in reversed(self.children):  # tracker first: it logs its own summary
            codes[child.name] = child.stop()
        if self.executor is not None:
            self.executor.shutdown()
        if self.node is not None:
            self.node.destroy_node()
        if self.ros_context is not None:
            self.ros_context.try_shutdown()
        return codes
