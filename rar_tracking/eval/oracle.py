"""What choosing among measured settings could reach at best: a per-sequence oracle.

``python -m rar_tracking.eval.oracle results/A [results/B ...]`` reads the ``results.json`` of
evaluation runs, groups them by the sequences they scored and how (the same sequence names
and the same ``--starts``), and prints for each group, per sequence, the highest AUC that any
of the runs' candidate trackers (names starting with ``--candidates``, by default every RAR
tracker: the defaults and each variant) reached, the tracker and run that reached it, and the
reference tracker's AUC (``--reference``, CSRT by default); then the mean of those best
values against the reference's mean, and the best single candidate's mean beside it.

Why (issue 14): a setting is one choice for every sequence, so no setting among those
measured can score more than this per-sequence best on a set. When the oracle's mean ratio
stays below a target, neither a measured setting nor any rule that picks one of them per
sequence, however it is chosen, reaches the target on that set. It does not bound a switch
between settings within a sequence, or anything that answers differently on the frames where
all of them fail. The bound is over the runs given and their sequences only, and it is
optimistic (it picks each sequence's best after seeing the truth).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .compare import per_sequence_auc
from .robustness import SEPARATOR
from .saved import read_runs, runs_parser


@dataclass(frozen=True)
class Oracle:
    """The per-sequence best of a group of runs, and the reference beside it."""

    best: dict[str, tuple[float, str]]  # sequence -> (AUC, 'tracker @ run')
    reference: dict[str, float]
    candidates: int  # candidate trackers seen (summed over runs)
    best_single: tuple[float, str]  # the highest mean of one candidate, 'tracker @ run'

    @property
    def mean_best(self) -> float:
        return float(np.mean([auc for auc, _ in self.best.values()]))

    @property
    def mean_reference(self) -> float:
        return float(np.mean([self.reference[s] for s in self.best]))


def oracle(runs: dict[str, dict], *, reference: str = 'CSRT', prefix: str = 'RAR') -> Oracle:
    """The per-sequence best AUC over every candidate tracker of ``runs`` ({label: results.json
    document}); all runs must score the same sequences. The reference's AUC per sequence is
    its mean over the runs that have it (it should not vary between them)."""
    best: dict[str, tuple[float, str]] = {}
    refs: dict[str, list[float]] = {}
    count, single = 0, (-1.0, '')
    for label, run in runs.items():
        for name in run['results']:
            aucs = per_sequence_auc(run, name)
            if name == reference:
                for seq, auc in aucs.items():
                    refs.setdefault(seq, []).append(auc)
                continue
            if not name.startswith(prefix):
                continue
            count += 1
            where = f'{name} @ {label}'
            single = max(single, (float(np.mean(list(aucs.values()))), where))
            for seq, auc in aucs.items():
                if seq not in best or auc > best[seq][0]:
                    best[seq] = (auc, where)
    if not count:
        raise ValueError(f'no tracker whose name starts with {prefix!r} in these runs')
    missing = sorted(set(best) - set(refs))
    if missing:
        raise ValueError(f'no {reference} result for {", ".join(missing)} in these runs')
    return Oracle(best, {s: float(np.mean(v)) for s, v in refs.items()}, count, single)


def _group_key(run: dict) -> tuple:
    names = sorted({seq.split(SEPARATOR)[0] for tracker in run['results'].values()
                    for seq in tracker['sequences']})
    return tuple(names), run['settings'].get('starts') or 0


def _table(title: str, result: Oracle, reference: str) -> list[str]:
    lines = [title, f'{"sequence":20s} {"best AUC":>8s} {reference[:8]:>8s}  reached by']
    for seq in sorted(result.best):
        auc, where = result.best[seq]
        lines.append(f'{seq[:20]:20s} {auc:8.3f} {result.reference[seq]:8.3f}  {where}')
    ratio = result.mean_best / result.mean_reference
    lines.append(f'{"mean":20s} {result.mean_best:8.3f} {result.mean_reference:8.3f}  '
                 f'{ratio:.2f}x {reference}, the best of {result.candidates} trackers per sequence')
    lines.append(f'{"best single tracker":20s} {result.best_single[0]:8.3f} {"":8s}  '
                 f'{result.best_single[0] / result.mean_reference:.2f}x: {result.best_single[1]}')
    return lines


def main(argv=None) -> int:
    p = runs_parser('python -m rar_tracking.eval.oracle', __doc__)
    p.add_argument('--reference', default='CSRT', help='the tracker to compare against')
    p.add_argument('--candidates', default='RAR',
                   help='trackers whose names start with this are the candidates')
    args = p.parse_args(argv)
    groups: dict[tuple, dict[str, dict]] = {}
    for folder, run in read_runs(p, args.runs):
        groups.setdefault(_group_key(run), {})[str(folder)] = run
    for (names, starts), runs in groups.items():
        title = (f'{len(runs)} run(s) over {len(names)} sequences'
                 + (f', {starts + 1} starts each' if starts else ', first box'))
        try:
            result = oracle(runs, reference=args.reference, prefix=args.candidates)
        except ValueError as e:
            print(f'{title}: {e}\n')
            continue
        print('\n'.join(_table(title, result, args.reference)) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
