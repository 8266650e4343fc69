"""Success and precision plots of one-pass evaluation, in the OTB toolkit's style.

Each legend entry reads ``name [score]`` (AUC for success, P@20 for precision), sorted by
score. matplotlib is imported when a plot is drawn (Agg backend, no display needed).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .metrics import PRECISION_AT, PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS

_STYLES = ['-', '--', '-.', ':']


def _pyplot():
    import matplotlib

    matplotlib.use('Agg', force=True)
    import matplotlib.pyplot as plt

    return plt


def _plot(curves: dict[str, tuple[np.ndarray, float]], x: np.ndarray, *, title: str,
          xlabel: str, ylabel: str, path: str | os.PathLike, marker_x: float | None = None) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.4), dpi=110)
    order = sorted(curves.items(), key=lambda kv: -(kv[1][1] if math.isfinite(kv[1][1]) else -1))
    colors = plt.get_cmap('tab10').colors
    for k, (name, (curve, score)) in enumerate(order):
        curve = np.asarray([np.nan if v is None else v for v in curve], dtype=np.float64)
        label = f'{name} [{score:.3f}]' if math.isfinite(score) else f'{name} [n/a]'
        ax.plot(x[:len(curve)], curve, _STYLES[(k // len(colors)) % len(_STYLES)],
                color=colors[k % len(colors)], linewidth=2.0, label=label)
    if marker_x is not None:
        ax.axvline(marker_x, color='0.6', linewidth=0.8, linestyle=':')
    ax.set_xlim(float(x[0]), float(x[-1]))
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, color='0.85', linewidth=0.6)
    ax.legend(loc='lower left' if 'Success' in title else 'lower right', fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def success_plot(results: dict[str, dict], path, title: str = 'Success plots of OPE') -> Path:
    """``results``: tracker name -> dict with ``success_curve`` and ``auc``."""
    curves = {n: (r['success_curve'], _f(r.get('auc'))) for n, r in results.items()
              if r.get('success_curve')}
    return _plot(curves, SUCCESS_THRESHOLDS, title=title, xlabel='Overlap threshold',
                 ylabel='Success rate', path=path)


def precision_plot(results: dict[str, dict], path, title: str = 'Precision plots of OPE') -> Path:
    """``results``: tracker name -> dict with ``precision_curve`` and ``precision``."""
    curves = {n: (r['precision_curve'], _f(r.get('precision'))) for n, r in results.items()
              if r.get('precision_curve')}
    return _plot(curves, PRECISION_THRESHOLDS, title=title,
                 xlabel='Location error threshold (pixels)', ylabel='Precision', path=path,
                 marker_x=PRECISION_AT)


def _f(value) -> float:
    return float('nan') if value is None else float(value)


def write_plots(summary: dict, out_dir, tags: bool = True) -> list[Path]:
    """Success and precision plots of the mean over all sequences and, with ``tags``,
    of every tag (``success.png``, ``precision.png``, ``success_<tag>.png``, ...)."""
    out = Path(out_dir)
    means = {name: r['mean'] for name, r in summary.items()}
    count = max((m.get('sequences', 0) for m in means.values()), default=0)
    paths = [success_plot(means, out / 'success.png', f'Success plots of OPE ({count} sequences)'),
             precision_plot(means, out / 'precision.png',
                            f'Precision plots of OPE ({count} sequences)')]
    if tags:
        all_tags = sorted({t for r in summary.values() for t in r['tags']})
        for tag in all_tags:
            per = {name: r['tags'][tag] for name, r in summary.items() if tag in r['tags']}
            n = max(m.get('sequences', 0) for m in per.values())
            safe = ''.join(c if c.isalnum() or c in '-_' else '_' for c in tag)
            paths.append(success_plot(per, out / f'success_{safe}.png',
                                      f'Success plots of OPE - {tag} ({n})'))
            paths.append(precision_plot(per, out / f'precision_{safe}.png',
                                        f'Precision plots of OPE - {tag} ({n})'))
    return paths
