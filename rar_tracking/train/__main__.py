"""Training command line: ``python -m rar_tracking.train --help``.

Single GPU or CPU::

    python -m rar_tracking.train --config config/train_heads.yaml --out runs/heads

Several GPUs on one machine (one process per GPU)::

    torchrun --standalone --nproc_per_node 4 -m rar_tracking.train \\
        --config config/train_full.yaml --out runs/full

Continue a stopped run with the same command plus ``--resume``. See docs/training.md.

May import: the standard library at module level; this package and :mod:`rar_tracking.errors`,
lazily, once the arguments are parsed (so that ``--help`` does not load torch).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='python -m rar_tracking.train',
        description='Train the RAR network offline (loss of Eq. 12 on clips of tracked objects).')
    p.add_argument('--config', required=True, help='training YAML (config/train_heads.yaml, '
                   'config/train_full.yaml)')
    p.add_argument('--out', help='run folder (default runs/<config name>)')
    p.add_argument('--resume', action='store_true',
                   help='continue the run in --out from checkpoints/last.pt')
    p.add_argument('--device', help='auto, cpu, cuda or cuda:N (default: runtime.device)')
    p.add_argument('--max-steps', type=int, metavar='N',
                   help='stop after N optimizer steps in total (the schedule still spans '
                   'optim.epochs; --resume continues)')
    p.add_argument('--heads-only', action=argparse.BooleanOptionalAction, default=None,
                   help='freeze the whole trunk (train reduction, attention, refinement only); '
                   '--no-heads-only fine-tunes conv3-conv5 (default: optim.heads_only)')
    p.add_argument('--set', action='append', default=[], metavar='SECTION.KEY=VALUE',
                   help='override a configuration value, e.g. optim.batch_size=4; repeatable')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    from ..errors import RARError
    from .config import load_config
    from .loop import train

    try:
        overrides = list(args.set)
        if args.heads_only is not None:
            overrides.append(f'optim.heads_only={str(args.heads_only).lower()}')
        cfg = load_config(args.config, overrides)
    except ValueError as exc:
        parser.error(str(exc))
    if args.max_steps is not None and args.max_steps < 1:
        parser.error('--max-steps must be >= 1')
    out = Path(args.out) if args.out else Path('runs') / Path(args.config).stem
    try:
        summary = train(cfg, out, resume=args.resume, device=args.device,
                        max_steps=args.max_steps, progress=not args.quiet)
    except (ValueError, FileNotFoundError, RARError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return EXIT_ERROR
    if summary:  # the exact command, for the record of weights that ship (train/ship.py)
        command = ' '.join(['python -m rar_tracking.train'] + [
            a if a.replace('=', '').replace('.', '').replace('/', '').replace('_', '')
            .replace('-', '').isalnum() else repr(a) for a in (argv or sys.argv[1:])])
        with open(out / 'command.txt', 'a', encoding='utf-8') as f:
            f.write(command + '\n')
        train_hist = summary['history']['train']
        val_hist = summary['history']['val']
        print(f"{summary['steps']}/{summary['total_steps']} steps, "
              f"{summary['seconds_per_step']:.2f} s/step on {summary['device']}; "
              f"weights: {summary['weights']}")
        if train_hist:
            print(f"train loss: first logged {train_hist[0]['loss']:.4f}, "
                  f"last logged {train_hist[-1]['loss']:.4f}")
        if len(val_hist) >= 2:
            print(f"held-out loss {val_hist[0]['loss']:.4f} (step {val_hist[0]['step']}) -> "
                  f"{val_hist[-1]['loss']:.4f} (step {val_hist[-1]['step']})")
    return EXIT_OK


if __name__ == '__main__':
    sys.exit(main())
