"""How sure a difference of mean AUC is: paired per-sequence comparison with a bootstrap.

``python -m rar_tracking.eval.compare results/A [results/B ...] [--baseline NAME]`` reads the
``results.json`` of evaluation runs and prints, for every tracker of a run against the
baseline of that run (by default its first RAR tracker, the defaults when variants ran beside
it), over the sequences both scored:

- the mean AUC difference and its 95 % interval from a paired bootstrap over sequences
  (sequences drawn with replacement, ``--resamples`` times, seeded: the same run prints the
  same interval);
- how many sequences gained or lost more than ``--margin`` (0.05), and the largest loss and
  gain by name.

With several runs a last block pools their sequences (the 11 and the validation split, say).
Copies of a sequence started from moved boxes (``--starts``, ``name~k``) are averaged into
their sequence first: they are not independent samples.

Why (issue 14): on these sets a mean moves mostly by whole sequences flipping between kept
and lost (Human3 and Animal3 on the 11; Bolt, Bolt2, S0601, Ironman and MotorRolling on the
training split flip under almost any change, docs/evaluation.md), so a mean difference of a
few hundredths can be one sequence. An interval that contains 0, or a gain made of one
sequence, is not evidence that a setting helps. The interval is over these sequences only: it
says how much the mean depends on which of them were drawn, not how the tracker does on
footage unlike them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .robustness import SEPARATOR
from .saved import read_runs, runs_parser


@dataclass(frozen=True)
class Comparison:
    """A tracker against a baseline over the sequences both scored."""

    tracker: str
    baseline: str
    sequences: int
    mean_difference: float
    low: float  # 95 % bootstrap interval of the mean difference
    high: float
    gains: int  # sequences better by more than the margin
    losses: int
    largest_gain: tuple[str, float]
    largest_loss: tuple[str, float]


def per_sequence_auc(run: dict, tracker: str) -> dict[str, float]:
    """AUC per sequence of ``tracker`` in a results.json document, started copies averaged
    into their sequence."""
    groups: dict[str, list[float]] = {}
    for name, row in run['results'][tracker]['sequences'].items():
        groups.setdefault(name.split(SEPARATOR)[0], []).append(float(row['auc']))
    return {name: float(np.mean(values)) for name, values in groups.items()}


def compare(tracker: dict[str, float], baseline: dict[str, float], *, names=('', ''),
            margin: float = 0.05, resamples: int = 10000, seed: int = 0) -> Comparison:
    """Paired comparison of two {sequence: AUC} maps over their common sequences."""
    common = sorted(set(tracker) & set(baseline))
    if not common:
        raise ValueError(f'{names[0]} and {names[1]} share no scored sequence')
    d = np.array([tracker[s] - baseline[s] for s in common])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    order = np.argsort(d)
    return Comparison(names[0], names[1], len(d), float(d.mean()), float(low), float(high),
                      int((d > margin).sum()), int((d < -margin).sum()),
                      (common[order[-1]], float(d[order[-1]])),
                      (common[order[0]], float(d[order[0]])))


def default_baseline(run: dict) -> str:
    """The run's first RAR tracker (the defaults, when variants ran beside them), else its
    first tracker."""
    names = list(run['results'])
    return next((n for n in names if n.startswith('RAR')), names[0])


def _rows(title: str, results: dict[str, dict[str, float]], baseline: str, args) -> list[str]:
    lines = [title, f'{"tracker":34s} {"n":>3s} {"mean dAUC":>9s} {"95% interval":>17s} '
             f'{"won/lost":>9s}  largest loss, gain']
    for name, aucs in results.items():
        if name == baseline:
            continue
        c = compare(aucs, results[baseline], names=(name, baseline), margin=args.margin,
                    resamples=args.resamples)
        lines.append(f'{name[:34]:34s} {c.sequences:3d} {c.mean_difference:+9.3f} '
                     f'[{c.low:+.3f}, {c.high:+.3f}] {c.gains:4d}/{c.losses:<4d}  '
                     f'{c.largest_loss[0]} {c.largest_loss[1]:+.3f}, '
                     f'{c.largest_gain[0]} {c.largest_gain[1]:+.3f}')
    if len(lines) == 2:
        lines.append('(no tracker to compare)')
    lines.append(f'(won/lost: sequences better/worse than {baseline} by more than '
                 f'{args.margin:g} AUC; interval: {args.resamples} bootstrap resamples)')
    return lines


def main(argv=None) -> int:
    p = runs_parser('python -m rar_tracking.eval.compare', __doc__)
    p.add_argument('--baseline', help="tracker to compare against (default: each run's first "
                   'RAR tracker)')
    p.add_argument('--margin', type=float, default=0.05,
                   help='a sequence counts as gained or lost beyond this AUC difference')
    p.add_argument('--resamples', type=int, default=10000, help='bootstrap resamples')
    args = p.parse_args(argv)
    pooled: dict[str, dict[str, float]] = {}
    pooled_baseline = None
    for folder, run in read_runs(p, args.runs):
        baseline = args.baseline or default_baseline(run)
        if baseline not in run['results']:
            p.error(f'{folder}: no tracker {baseline!r} (it has {", ".join(run["results"])})')
        results = {name: per_sequence_auc(run, name) for name in run['results']}
        split = run['settings'].get('split')
        title = f'{folder}' + (f' [{split}]' if split else '') + f', against {baseline}'
        print('\n'.join(_rows(title, results, baseline, args)) + '\n')
        pooled_baseline = pooled_baseline or baseline
        for name, aucs in results.items():
            key = pooled_baseline if name == baseline else name
            pooled.setdefault(key, {}).update({f'{folder}/{s}': v for s, v in aucs.items()})
    if len(args.runs) > 1:
        shared = {n: a for n, a in pooled.items()
                  if n == pooled_baseline or len(a) == len(pooled[pooled_baseline])}
        print('\n'.join(_rows(f'all {len(args.runs)} runs pooled, against the baselines '
                              '(trackers present in every run)',
                              shared, pooled_baseline, args)))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
