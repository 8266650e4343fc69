"""Paired per-sequence comparison of evaluation runs (rar_tracking.eval.compare)."""
import json

import pytest

from rar_tracking.eval.__main__ import main as evaluate
from rar_tracking.eval.compare import compare, default_baseline, main, per_sequence_auc


def test_an_interval_excludes_zero_only_when_the_gain_is_spread_over_sequences():
    base = {f's{i}': 0.5 for i in range(10)}
    spread = {f's{i}': 0.52 + 0.01 * (i % 3) for i in range(10)}  # every sequence a little up
    one = dict(base, s3=0.5 + 0.3)  # the same mean gain from one sequence flipping
    a = compare(spread, base, names=('spread', 'base'))
    b = compare(one, base, names=('one', 'base'))
    assert a.mean_difference == pytest.approx(0.029) and b.mean_difference == pytest.approx(0.03)
    assert a.low > 0.0  # every resample gains
    assert b.low == 0.0 and b.high > 0.06  # most resamples miss the one sequence, some take it twice
    assert (a.gains, a.losses, b.gains, b.losses) == (0, 0, 1, 0)
    assert b.largest_gain == ('s3', pytest.approx(0.3))
    # only the common sequences count; the same seed gives the same interval
    c = compare(dict(one, extra=1.0), base)
    assert (c.sequences, c.low, c.high) == (10, b.low, b.high)
    with pytest.raises(ValueError, match='share no'):
        compare({'x': 1.0}, base, names=('t', 'b'))


def test_started_copies_are_averaged_into_their_sequence():
    run = {'results': {'RAR-x': {'sequences': {
        'Girl': {'auc': 0.6}, 'Girl~1': {'auc': 0.3}, 'Girl~2': {'auc': 0.9},
        'Vase': {'auc': 0.5}}}}}
    assert per_sequence_auc(run, 'RAR-x') == {'Girl': pytest.approx(0.6), 'Vase': 0.5}
    assert default_baseline({'results': {'CSRT': {}, 'RAR-a': {}, 'RAR-b': {}}}) == 'RAR-a'
    assert default_baseline({'results': {'CSRT': {}, 'KCF': {}}}) == 'CSRT'


def test_the_command_reads_real_runs_and_pools_them(tmp_path, capsys):
    runs = []
    for seed in (0, 1):  # two real evaluation runs of two OpenCV trackers
        out = tmp_path / f'run{seed}'
        assert evaluate(['--synthetic', '3', '--synthetic-frames', '12', '--seed', str(seed),
                         '--trackers', 'csrt,kcf', '--out', str(out), '--quiet',
                         '--no-plots']) == 0
        runs.append(out)
    capsys.readouterr()
    assert main([str(r) for r in runs] + ['--baseline', 'CSRT', '--resamples', '500']) == 0
    printed = capsys.readouterr().out
    doc = json.loads((runs[0] / 'results.json').read_text())['results']
    expected = doc['KCF']['mean']['auc'] - doc['CSRT']['mean']['auc']
    first = next(line for line in printed.splitlines() if line.startswith('KCF'))
    assert f'{expected:+9.3f}' in first and first.split()[1] == '3'
    pooled = printed.split('pooled')[1]
    assert next(line for line in pooled.splitlines() if line.startswith('KCF')).split()[1] == '6'
    with pytest.raises(SystemExit):
        main([str(runs[0]), '--baseline', 'MIL'])
    with pytest.raises(SystemExit):
        main([str(tmp_path / 'none')])
