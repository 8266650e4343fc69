"""Training clips with the frozen trunk already run: what makes head training fit a CPU.

When the whole trunk is frozen (``optim.heads_only``), a crop's trunk features never change
during training, yet the trunk is most of a step's forward cost (about 90 % of a 225 px crop
through EfficientNet-Lite0 on one CPU core). :class:`CachedClips` draws a fixed pool of clips
from a :class:`~rar_tracking.train.data.ClipDataset` once (the same crops, jitter and labels
the uncached run would use for items ``(0, 0..count-1)``), runs the trunk over them in batches
without gradients and keeps its three stage maps in memory as float16. Training then runs
only the heads (reduction, attention with the ConvLSTM over the clip, refinement) and the
correlation layer on them.

The trade: every epoch sees the same pool (shuffled), where the uncached run draws new clips
and new jitter each epoch. With a pool several times the number of training frames this costs
little diversity; ``runtime.cache_clips`` sets its size. float16 storage is exact enough for
ImageNet feature maps (relative error about 5e-4) and halves the memory: a 225 px crop of the
native-stride Lite0 trunk is 158 kB.

May import: torch and this package's data module.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..model.rar import RARNet
from .data import ClipDataset, worker_init

log = logging.getLogger(__name__)

#: Keys of a ClipDataset item that a cached item keeps as they are.
_KEPT = ('label', 'offset', 'box_cells', 'frames')


class CachedClips(torch.utils.data.Dataset):
    """``count`` clips of ``clips`` with trunk features in place of the crops.

    An item (index ``i`` or ``(epoch, i)``; the epoch is ignored: the pool is fixed) has
    ``template``: a list of the three stage maps (C_s, H_s, W_s) and ``search``: a list of
    three (T, C_s, H_s, W_s), all float16, plus the uncached item's ``label``, ``offset``,
    ``box_cells``, ``frames`` and ``sequence``.
    """

    def __init__(self, clips: ClipDataset, net: RARNet, count: int, device: torch.device,
                 batch_size: int = 8, num_workers: int = 0):
        self.count = int(count)
        if self.count < 1:
            raise ValueError('a feature cache needs at least one clip')
        start = time.time()
        self.kept: dict[str, list] = {k: [] for k in _KEPT}
        self.sequences: list[str] = []
        self.template: list[torch.Tensor] = []
        self.search: list[torch.Tensor] = []
        loader = DataLoader(_Indexed(clips, self.count), batch_size=batch_size,
                            num_workers=num_workers, worker_init_fn=worker_init)
        was_training = net.training
        net.eval()
        filled = 0
        with torch.no_grad():
            for batch in loader:
                n, t = batch['search'].shape[:2]
                crops = torch.cat([batch['template'][:, None], batch['search']], 1)
                feats = net.trunk_features(crops.flatten(0, 1).to(device))
                if not self.template:
                    self._allocate(feats, t)
                for k, f in enumerate(feats):
                    f = f.reshape(n, t + 1, *f.shape[1:]).to('cpu', torch.float16)
                    self.template[k][filled:filled + n] = f[:, 0]
                    self.search[k][filled:filled + n] = f[:, 1:]
                for key in _KEPT:
                    self.kept[key].extend(batch[key].unbind(0))
                self.sequences.extend(batch['sequence'])
                filled += n
        net.train(was_training)
        self.seconds = time.time() - start
        self.nbytes = sum(x.numel() * x.element_size() for x in self.template + self.search)
        log.info('feature cache: %d clips of %d crops, %.0f MB, built in %.0f s', self.count,
                 t + 1, self.nbytes / 1e6, self.seconds)

    def _allocate(self, feats: list[torch.Tensor], t: int) -> None:
        for f in feats:
            shape = tuple(f.shape[1:])
            self.template.append(torch.empty((self.count,) + shape, dtype=torch.float16))
            self.search.append(torch.empty((self.count, t) + shape, dtype=torch.float16))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index) -> dict[str, Any]:
        i = index[1] if isinstance(index, tuple) else index
        item = {'template': [x[i] for x in self.template],
                'search': [x[i] for x in self.search],
                'sequence': self.sequences[i]}
        item.update({k: v[i] for k, v in self.kept.items()})
        return item


class _Indexed(torch.utils.data.Dataset):
    """Items ``(0, i)`` of a ClipDataset for i < count: the uncached run's first epoch."""

    def __init__(self, clips: ClipDataset, count: int):
        self.clips, self.count = clips, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.clips[(0, i)]
