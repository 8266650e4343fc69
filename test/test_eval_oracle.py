"""The per-sequence oracle over measured runs (rar_tracking.eval.oracle)."""
import json

import pytest

from rar_tracking.eval.__main__ import main as evaluate
from rar_tracking.eval.oracle import main, oracle


def _run(**trackers):
    return {'results': {name: {'sequences': {s: {'auc': a} for s, a in aucs.items()}}
                        for name, aucs in trackers.items()}}


def test_each_sequence_takes_its_best_candidate_and_the_reference_stays_apart():
    runs = {'a': _run(CSRT={'s1': 0.5, 's2': 0.5}, **{'RAR-x': {'s1': 0.9, 's2': 0.1}}),
            'b': _run(CSRT={'s1': 0.5, 's2': 0.5}, **{'RAR-y': {'s1': 0.2, 's2': 0.7}},
                      KCF={'s1': 1.0, 's2': 1.0})}
    result = oracle(runs)
    assert result.best == {'s1': (0.9, 'RAR-x @ a'), 's2': (0.7, 'RAR-y @ b')}
    assert result.mean_best == pytest.approx(0.8) and result.mean_reference == 0.5
    assert result.candidates == 2  # KCF and CSRT are not candidates
    assert result.best_single == (pytest.approx(0.5), 'RAR-x @ a')  # a tie: both 0.5
    # started copies count as their sequence, averaged
    started = oracle({'c': _run(CSRT={'s1': 0.5, 's1~1': 0.3},
                                **{'RAR-z': {'s1': 0.6, 's1~1': 1.0}})})
    assert started.best == {'s1': (pytest.approx(0.8), 'RAR-z @ c')}
    with pytest.raises(ValueError, match='no CSRT result for s2'):
        oracle({'d': _run(CSRT={'s1': 0.5}, **{'RAR-x': {'s1': 0.9, 's2': 0.1}})})
    with pytest.raises(ValueError, match="starts with 'RAR'"):
        oracle({'e': _run(CSRT={'s1': 0.5})})


def test_the_command_groups_real_runs_by_their_sequences(tmp_path, capsys):
    folders = []
    for name, count in (('a', 2), ('b', 2), ('c', 3)):  # a and b score the same two sequences
        out = tmp_path / name
        assert evaluate(['--synthetic', str(count), '--synthetic-frames', '10',
                         '--trackers', 'csrt,kcf', '--out', str(out), '--quiet',
                         '--no-plots']) == 0
        folders.append(str(out))
    capsys.readouterr()
    assert main(folders + ['--candidates', 'KCF']) == 0
    printed = capsys.readouterr().out
    assert '2 run(s) over 2 sequences, first box' in printed
    assert '1 run(s) over 3 sequences, first box' in printed
    doc = json.loads((tmp_path / 'c' / 'results.json').read_text())['results']
    ratio = doc['KCF']['mean']['auc'] / doc['CSRT']['mean']['auc']
    block = printed.split('1 run(s) over 3 sequences')[1]
    assert f'{ratio:.2f}x CSRT, the best of 1 trackers' in block
    with pytest.raises(SystemExit):
        main([str(tmp_path / 'none')])
