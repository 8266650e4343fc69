"""What a training run reports on rank 0: ``metrics.jsonl``, TensorBoard scalars (when
tensorboard is installed) and a progress bar (when tqdm is).

May import: the standard library, tensorboard and tqdm (both optional, lazily).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


class RunLog:
    """Rank-0 outputs: metrics.jsonl, TensorBoard (when installed) and the progress bar."""

    def __init__(self, out: Path, enabled: bool, start_step: int, total: int, progress: bool):
        self.enabled = enabled
        self.writer = self.bar = None
        if not enabled:
            return
        self.jsonl = open(out / 'metrics.jsonl', 'a', encoding='utf-8')
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(str(out / 'tb'), purge_step=start_step)
        except ImportError:  # pragma: no cover - tensorboard is in requirements
            log.warning('tensorboard is not installed: no TensorBoard scalars')
        if progress:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, initial=start_step, unit='step', dynamic_ncols=True)
            except ImportError:  # pragma: no cover
                pass

    def scalars(self, split: str, step: int, values: dict[str, float], **extra) -> None:
        if not self.enabled:
            return
        record = dict(split=split, step=step, time=time.time(), **extra, **values)
        self.jsonl.write(json.dumps(record) + '\n')
        self.jsonl.flush()
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f'{split}/{k}', v, step)
            self.writer.flush()
        if self.bar is not None and split == 'train':
            self.bar.set_postfix(loss=f"{values['loss']:.4f}", lr=f"{values['lr']:.2e}")
        elif split == 'val':
            log.info('validation at step %d: %s', step,
                     ', '.join(f'{k} {v:.4g}' for k, v in sorted(values.items())))

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if not self.enabled:
            return
        self.jsonl.close()
        if self.writer is not None:
            self.writer.close()
        if self.bar is not None:
            self.bar.close()
