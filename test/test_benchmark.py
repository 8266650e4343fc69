"""The speed benchmark prints its command, machine, a row per tracker with the ratio to CSRT
measured in the same run, and with --profile where one track() spends its time."""
import re

from rar_tracking import benchmark


def test_benchmark_prints_rows_ratios_and_a_breakdown(capsys):
    assert benchmark.main(['--trunks', 'efficientnet_lite0', '--profiles', 'fast',
                           '--frames', '3', '--device', 'cpu', '--crop-size', '97',
                           '--profile']) == 0
    out = capsys.readouterr().out
    assert out.startswith('# python -m rar_tracking.benchmark --trunks efficientnet_lite0')
    assert 'torch CPU thread(s)' in out and 'cores' in out
    rows = {m.group(1).strip(): float(m.group(2)) for m in re.finditer(
        r'^(OpenCV CSRT|OpenCV KCF|RAR efficientnet_lite0 fast crop 97)\s+\S+.*?\s([\d.]+)$',
        out, re.M)}
    assert set(rows) == {'OpenCV CSRT', 'OpenCV KCF', 'RAR efficientnet_lite0 fast crop 97'}
    assert rows['OpenCV CSRT'] == 1.0 and rows['RAR efficientnet_lite0 fast crop 97'] > 0
    breakdown = out[out.index('where one track()'):]
    for section in ('crop and resize', 'trunk stem-stride 8', 'trunk stride-16 stage',
                    'trunk stride-32 stage', 'attention (ConvLSTM, Eq. 3-7)',
                    'refinement (Fig. 6)', 'response (Eq. 11)', 'peak, PSR and scale choice'):
        assert section in breakdown, section
    assert 'where one initialize()' in out and 'correlation filter (Eq. 10)' in out
