"""The speed benchmark prints its command, machine, a row per tracker with the ratio to CSRT
measured in the same run, and with --profile where one track() spends its time."""
import re

import pytest
from conftest import needs_contrib

from rar_tracking import benchmark


@needs_contrib
def test_benchmark_prints_rows_ratios_and_a_breakdown(capsys):
    assert benchmark.main(['--trunks', 'efficientnet_lite0', '--profiles', 'fast',
                           '--frames', '3', '--device', 'cpu', '--crop-size', '97',
                           '--profile']) == 0
    out = capsys.readouterr().out
    assert out.startswith('# python -m rar_tracking.benchmark --trunks efficientnet_lite0')
    assert 'torch CPU thread(s)' in out and 'cores' in out
    rows = {m.group(1).strip(): (float(m.group(2)), float(m.group(3)), float(m.group(4)))
            for m in re.finditer(r'^(OpenCV CSRT|OpenCV KCF|RAR efficientnet_lite0 fast crop 97)'
                                 r'\s+\S+.*?\s([\d.]+)\s+([\d.]+)-([\d.]+)$', out, re.M)}
    assert set(rows) == {'OpenCV CSRT', 'OpenCV KCF', 'RAR efficientnet_lite0 fast crop 97'}
    assert rows['OpenCV CSRT'] == (1.0, 1.0, 1.0)
    ratio, lo, hi = rows['RAR efficientnet_lite0 fast crop 97']
    assert 0 < lo <= ratio <= hi
    breakdown = out[out.index('where one track()'):]
    for section in ('crop and resize', 'trunk stem-stride 8', 'trunk stride-16 stage',
                    'trunk stride-32 stage', 'attention (ConvLSTM, Eq. 3-7)',
                    'refinement (Fig. 6)', 'response (Eq. 11)', 'peak, PSR and scale choice'):
        assert section in breakdown, section
    assert 'where one initialize()' in out and 'correlation filter (Eq. 10)' in out


def test_trackers_take_turns_frame_by_frame():
    """Every frame goes through each runner before the next frame goes through any, and the
    ratio is the median of the per-frame ratios to the first runner."""
    calls = []

    class Runner:
        def __init__(self, name, ms):
            self.name, self.device, self.ms = name, 'cpu', ms

        def init(self, frame):
            calls.append((self.name, 'init', frame))
            return 1.0, {}

        def step(self, frame):
            calls.append((self.name, 'step', frame))
            return self.ms * (1 + frame), {'part': 0.5}  # both slow down alike over the run

        def close(self):
            calls.append((self.name, 'close', None))

    rows = benchmark.time_in_turns([Runner('a', 10.0), Runner('b', 30.0)], [0, 1, 2, 3])
    steps = [(n, f) for n, kind, f in calls if kind == 'step']
    assert steps == [('a', 1), ('b', 1), ('a', 2), ('b', 2), ('a', 3), ('b', 3)]
    assert [c[1] for c in calls[:6]] == ['init'] * 6
    assert rows[1]['ratio'] == 3.0 and rows[1]['ratio_range'] == (3.0, 3.0)
    assert rows[1]['track_ms'] == 90.0 and rows[1]['track_sections'] == {'part': 0.5}


def test_variants_add_labelled_rows_and_bad_ones_are_refused(capsys):
    assert benchmark.main(['--trunks', 'efficientnet_lite0', '--profiles', 'fast',
                           '--frames', '2', '--device', 'cpu', '--crop-size', '97',
                           '--variant', 'k0:num_context=0']) == 0
    out = capsys.readouterr().out
    names = re.findall(r'^(RAR efficientnet_lite0 fast crop 97(?: \(k0\))?) ', out, re.M)
    assert names == ['RAR efficientnet_lite0 fast crop 97', 'RAR efficientnet_lite0 fast crop 97 (k0)']
    for bad in ('nolabel', 'x:no_such_field=1', 'x:num_context=many'):
        with pytest.raises(SystemExit):
            benchmark.main(['--device', 'cpu', '--variant', bad])
    assert '--variant' in capsys.readouterr().err


def test_an_opencv_build_without_csrt_times_rar_alone(capsys, monkeypatch):
    """Plain opencv-python (as on GPU machines' images) lacks CSRT and KCF: RAR is still timed,
    without ratios, and the run says why."""
    import cv2
    for name in ('TrackerCSRT_create', 'TrackerKCF_create'):
        monkeypatch.delattr(cv2, name, raising=False)
    assert benchmark.main(['--trunks', 'efficientnet_lite0', '--profiles', 'fast',
                           '--frames', '2', '--device', 'cpu', '--crop-size', '97']) == 0
    out = capsys.readouterr().out
    assert '# skipped OpenCV CSRT: not in this OpenCV build' in out and 'OpenCV KCF  ' not in out
    row = re.search(r'^RAR efficientnet_lite0 fast crop 97 .*$', out, re.M).group(0)
    assert row.split()[-2:] == ['-', '-'] and float(row.split()[-3]) > 0
