"""A short run of the stress tool (``python -m rar_tracking.ros.stress``, issue 11) against the
node as its own process: fuzzed messages, a service storm from 8 clients, a soak at 30 Hz,
stream faults and SIGINT/SIGTERM. The full run's figures are in docs/node.md, "Reliability"."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip('rclpy')
pytest.importorskip('rar_tracking_msgs.msg')

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    from ros_helpers import isolate_ros_domain
    isolate_ros_domain()
    out = tmp_path_factory.mktemp('stress') / 'report.json'
    cmd = [sys.executable, '-m', 'rar_tracking.ros.stress', '--fuzz', '300', '--storm', '24',
           '--minutes', '0.3', '--warmup', '8', '--signals', 'quick', '--no-compressed',
           '--no-weights', '--json', str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ))
    print(proc.stdout)  # the table, shown with -s or on failure
    assert out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_the_node_survives_fuzzing_and_still_tracks(report):
    fuzz = report['fuzz']
    assert fuzz['messages'] >= 300 and fuzz['alive'] and fuzz['healthy_after'], fuzz
    assert fuzz['lost_calls'] == 0 and fuzz['silent_refusals'] == 0, fuzz
    assert not report.get('errors'), report['errors']


def test_every_storm_call_is_answered(report):
    storm = report['storm']
    assert storm['calls'] == 24 and storm['answered'] == 24 and storm['silent'] == 0, storm
    assert storm['alive']


def test_soak_memory_is_flat_after_warm_up(report):
    soak = report['soak']
    assert soak['alive'] and soak['first_target_ok'] and soak['live_results'] > 0, soak
    assert soak['rss_growth_pct'] < 5.0, soak
    # The node's own account of each start, from its /diagnostics, is in the report.
    assert soak['wait_stages']['callback_to_start']['periods'] > 0, soak
    assert 0 <= soak['node_started_behind'] <= soak['live_results'], soak
    # The node names its threads for the OS; the tracker thread is the one that works.
    threads = soak['threads']
    assert threads['rar_tracker']['cpu'] > threads['rar_executor']['cpu'] > 0, threads


def test_stream_faults_keep_the_node_tracking(report):
    faults = report['stream_faults']
    for key in ('target_set', 'resumes_after_gap', 'stray_size_keeps_target',
                'sustained_size_clears_target', 'alive'):
        assert faults[key], (key, faults)


def test_the_node_tracks_after_the_clock_jumps_back(report):
    # Was a non-strict xfail: it failed in the four full-suite runs up to 2 December 2026
    # (no result within 30 s of the jump) and passed in every run since: three full-suite CI
    # runs and two 10-minute stress runs on 3 December, the last ones with NodeExecutor. The
    # cause of the old failures was not pinned down; this test is how a return would show.
    faults = report['stream_faults']
    assert faults['tracks_after_time_jump'], faults


def test_sigint_and_sigterm_end_the_node_cleanly_within_2_s(report):
    exits = [report['main_exit'], report['stream_faults']['sigint_while_tracking'],
             *report['signal_faults']]
    assert len(exits) == 3
    for row in exits:
        assert row['code'] == 0 and row['seconds'] <= 2.0 and not row['bad_lines'], row
