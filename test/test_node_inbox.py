"""The tracker node's inbox (pure Python): newest frame only, bounded ring, commands first,
catch-up without repeats."""
import threading
import time

import pytest

from rar_tracking.ros.diagnostics import WAIT_STAGES, NodeStats
from rar_tracking.ros.inbox import Inbox


def put(inbox, stamp):
    return inbox.put_frame(stamp, 'cam', f'msg{stamp}')


def test_only_the_newest_frame_is_pending_and_replaced_ones_count_as_dropped():
    inbox = Inbox(ring_size=4)
    for stamp in (10, 20, 30):
        put(inbox, stamp)
    kind, frame = inbox.next_work(timeout=0)
    assert kind == 'frame' and frame.stamp_ns == 30
    assert inbox.next_work(timeout=0) is None
    assert inbox.dropped == 2 and inbox.take_dropped() == 2 and inbox.take_dropped() == 0
    put(inbox, 40)
    assert inbox.next_work(timeout=0)[1].stamp_ns == 40
    assert inbox.dropped == 2 and inbox.received == 4


def test_received_after_counts_the_frames_that_arrived_since_one_was_taken():
    inbox = Inbox(ring_size=4)
    put(inbox, 10)
    _, frame = inbox.next_work(timeout=0)
    assert inbox.received_after(frame) == 0
    put(inbox, 20)
    put(inbox, 30)
    assert inbox.received_after(frame) == 2


def test_wait_stages_split_an_images_wait_and_skip_a_stamp_on_another_clock():
    now = time.time_ns()
    stats = NodeStats()
    inbox = Inbox(ring_size=4)
    frame = inbox.put_frame(now - 50_000_000, 'cam', 'msg', sent_wall_ns=now - 45_000_000,
                            arrived_wall_ns=now - 30_000_000)
    stats.record_start(frame, inbox.received_after(frame))
    sim = inbox.put_frame(5 * 10**9, 'cam', 'msg')  # a simulated clock's stamp, no info
    stats.record_start(sim, 0)
    stats.record_start(frame, 1)  # as if started late, after `sim` had arrived
    waits = stats.take_period(received_total=2)['waits_ms']
    # Not for the simulated stamp, nor for the frame without message info:
    assert [len(waits[k]) for k in WAIT_STAGES] == [2, 2, 2, 3]
    assert waits['stamp_to_write'][0] == pytest.approx(5.0, abs=0.01)
    assert waits['write_to_receipt'][0] == pytest.approx(15.0, abs=0.01)
    assert waits['receipt_to_callback'][0] == pytest.approx(30.0, abs=5.0)
    assert stats.started_behind == 1 and stats.max_newer_at_start == 1


def test_ring_is_bounded_and_searched_by_stamp():
    inbox = Inbox(ring_size=3)
    assert inbox.find(0) is None and inbox.newest() is None
    for stamp in (1, 2, 3, 4, 5):
        put(inbox, stamp)
    assert inbox.buffered_stamps() == [3, 4, 5]
    assert inbox.find(4).msg == 'msg4' and inbox.find(0).stamp_ns == 5
    assert inbox.find(1) is None
    with pytest.raises(ValueError):
        Inbox(ring_size=0)


def test_a_lost_stamp_finds_the_nearest_frame_only_within_the_tolerance():
    inbox = Inbox(ring_size=10)
    for stamp in (100, 133, 200, 233):  # 166 never arrived
        put(inbox, stamp)
    assert inbox.find(166) is None  # exact by default
    assert inbox.find(166, tolerance_ns=40).stamp_ns == 133  # 33 away against 34
    assert inbox.find(216, tolerance_ns=40).stamp_ns == 200  # a tie goes to the older
    assert inbox.find(216, tolerance_ns=10) is None
    assert inbox.find(300, tolerance_ns=40) is None and inbox.find(50, tolerance_ns=40) is None
    assert inbox.find(200, tolerance_ns=40).stamp_ns == 200
    inbox.note_skipped(250)  # arrived, refused: no stand-in for it
    assert inbox.find(250, tolerance_ns=40) is None
    assert inbox.was_skipped(250) and not inbox.was_skipped(216)


def test_commands_come_before_frames():
    inbox = Inbox(ring_size=2)
    put(inbox, 1)
    inbox.post('reset')
    assert inbox.next_work(timeout=0) == ('command', 'reset')
    assert inbox.next_work(timeout=0)[0] == 'frame'


def test_catch_up_tracks_newer_buffered_frames_once_in_order():
    inbox = Inbox(ring_size=10)
    frames = [put(inbox, s) for s in (1, 2, 3, 4, 5)]
    assert inbox.next_work(timeout=0)[1].stamp_ns == 5  # handled for the previous target
    assert inbox.schedule_catch_up(frames[1], limit=10) == 3
    put(inbox, 6)  # arrives during the catch-up: not a drop, handled after it
    got = []
    while (work := inbox.next_work(timeout=0)) is not None:
        got.append(work)
    assert [f.stamp_ns for _, f in got] == [3, 4, 5, 6]
    # The catch-up frames are older than the newest on purpose: told apart from live ones.
    assert [kind for kind, _ in got] == ['catch_up'] * 3 + ['frame']
    assert inbox.dropped == 4  # only the four replaced before the first take


def test_catch_up_limit_keeps_the_newest_frames_and_zero_jumps_to_the_newest():
    inbox = Inbox(ring_size=10)
    frames = [put(inbox, s) for s in (1, 2, 3, 4, 5)]
    inbox.schedule_catch_up(frames[0], limit=2)
    assert [inbox.next_work(timeout=0)[1].stamp_ns for _ in range(2)] == [4, 5]
    assert inbox.next_work(timeout=0) is None
    inbox.schedule_catch_up(frames[0], limit=0)
    put(inbox, 6)
    assert inbox.next_work(timeout=0)[1].stamp_ns == 6
    assert inbox.next_work(timeout=0) is None


def test_a_waiting_consumer_wakes_on_a_frame_and_on_close():
    inbox = Inbox(ring_size=2)
    results = []
    thread = threading.Thread(target=lambda: results.append(inbox.next_work(timeout=5.0)))
    thread.start()
    time.sleep(0.05)
    put(inbox, 7)
    thread.join(2.0)
    assert results[0][1].stamp_ns == 7
    thread = threading.Thread(target=lambda: results.append(inbox.next_work(timeout=5.0)))
    thread.start()
    time.sleep(0.05)
    start = time.monotonic()
    inbox.close()
    thread.join(2.0)
    assert results[1] is None and time.monotonic() - start < 1.0
