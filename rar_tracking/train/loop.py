"""The training loop: SGD, log-linear learning-rate decay, mixed precision, checkpoints and
resume, TensorBoard, and several GPUs through ``torchrun`` (DistributedDataParallel).

Run folder (``--out``)::

    config.yaml             the configuration used (resolved)
    metrics.jsonl           one JSON line per logged step and per validation
    tb/                     TensorBoard scalars (train/*, val/*)
    checkpoints/last.pt     written after every epoch and when a run stops early
    checkpoints/epoch_NNN.pt
    rar_weights.safetensors the exported weights (``save_rar_weights``)
    summary.json            steps, first/last losses, validation before/after, timings

Only rank 0 logs, validates and writes files. A step is a function of (seed, epoch, index)
data and the checkpointed state, so a resumed run continues exactly like an uninterrupted one
(same learning rates, same step counter, same parameters on a deterministic device).

:func:`train` runs the steps of a :class:`_Run` in order: seed, check the run folder
(:mod:`.checkpoints`), build, restore, open the outputs (:mod:`.run_log`), run, export.
May import: torch, PyYAML, :mod:`rar_tracking.model`, :mod:`rar_tracking.geometry`,
:mod:`rar_tracking.device` and this package's modules (not the tracker, not ROS).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from ..device import select_device
from ..geometry import Geometry, probe_feature_size
from ..model.rar import RARNet, build_network as build_rar_network
from ..model.weights import load_rar_weights, save_rar_weights
from .checkpoints import (CHECKPOINT_FORMAT, checkpoint_to_resume, rng_state, save_checkpoint,
                          set_rng_state)
from .config import TrainConfig
from .data import ClipDataset, ClipSampler, EpochSampler, worker_init
from .feature_cache import CachedClips
from .run_log import RunLog
from .sources import check_disjoint, load_sources
from .step import ClipModel, response_metrics, twin_share

log = logging.getLogger(__name__)



class LogLinearDecay:
    """Learning-rate factor for LambdaLR: 1 at step 0, ``ratio`` at step ``total - 1``,
    geometric in between (a straight line in log space), ``ratio`` after."""

    def __init__(self, total_steps: int, ratio: float):
        self.total_steps, self.ratio = int(total_steps), float(ratio)

    def __call__(self, step: int) -> float:
        span = max(self.total_steps - 1, 1)
        return self.ratio ** (min(step, span) / span)


# ---------------------------------------------------------------------------- building
def build_network(cfg: TrainConfig) -> RARNet:
    """The RARNet of the configuration (ImageNet trunk, optional starting weights)."""
    net = build_rar_network(cfg.tracker_config.replace(weights=''))
    if cfg.init_weights:
        load_rar_weights(net, cfg.init_weights)
    return net.train()  # the trunk keeps its BatchNorm layers in eval mode (ImageNet statistics)


def configure_trainable(net: RARNet, heads_only: bool) -> list[torch.nn.Parameter]:
    """Heads always train; the trunk's conv1-conv2 never; conv3-conv5 unless ``heads_only``."""
    frozen = {id(p) for p in net.trunk.frozen_parameters()}
    for p in net.trunk.parameters():
        p.requires_grad_(not heads_only and id(p) not in frozen)
    for p in net.head_parameters():
        p.requires_grad_(True)
    return [p for p in net.parameters() if p.requires_grad]


def build_optimizer(params, cfg: TrainConfig, total_steps: int):
    o = cfg.optim
    optimizer = torch.optim.SGD(params, lr=o.lr_start, momentum=o.momentum,
                                weight_decay=o.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, LogLinearDecay(total_steps, o.lr_end / o.lr_start))
    return optimizer, scheduler


#: Seed of the held-out clips: the run's seed plus this, so that they never repeat training's.
VAL_SEED_OFFSET = 1_000_003


def held_out_clips(cfg: TrainConfig, geometry: Geometry, sequences, weights, count: int,
                   twin_prob: float = 0.0) -> ClipDataset:
    """The fixed held-out clips of ``sequences``: training's shift and scale jitter, no
    photometric jitter, their own seed; a share ``twin_prob`` with a look-alike
    (``augment.twin_prob``; training's validation uses none)."""
    aug = dataclasses.replace(cfg.augment, colour=0.0, blur_prob=0.0, blur_sigma=0.0,
                              gray_prob=0.0, twin_prob=float(twin_prob))
    return ClipDataset(ClipSampler(sequences, cfg.clip, weights), geometry, count, aug,
                       cfg.runtime.seed + VAL_SEED_OFFSET)


def build_datasets(cfg: TrainConfig, geometry: Geometry) -> tuple[ClipDataset, ClipDataset | None]:
    """The training clips and (when ``data.val`` has sources) the fixed held-out clips."""
    train_seqs, train_w = load_sources(cfg.train, cfg.base_dir)
    if not train_seqs:
        raise ValueError('data.train: no sequences found (all sources absent or filtered out)')
    sampler = ClipSampler(train_seqs, cfg.clip, train_w)
    if sampler.skipped:
        log.info('%d training sequences have no usable clip: %s', len(sampler.skipped),
                 sampler.skipped[:10])
    train = ClipDataset(sampler, geometry, cfg.optim.samples_per_epoch, cfg.augment,
                        cfg.runtime.seed)
    val = None
    if cfg.val and cfg.runtime.val_samples:
        val_seqs, val_w = load_sources(cfg.val, cfg.base_dir)
        check_disjoint(train_seqs, val_seqs)
        if val_seqs:
            val = held_out_clips(cfg, geometry, val_seqs, val_w, cfg.runtime.val_samples)
    return train, val


# ---------------------------------------------------------------------------- distributed
def setup_distributed(device_name: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE > 1) the process group is
    initialised (NCCL on CUDA, else gloo) and each rank uses cuda:LOCAL_RANK."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return 0, 1, select_device(device_name)
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = select_device(device_name)
    if device.type == 'cuda':
        device = torch.device('cuda', local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    return dist.get_rank(), dist.get_world_size(), device


def _mean_over_ranks(values: dict[str, float], device: torch.device, world: int) -> dict:
    if world <= 1:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / world for k, v in zip(keys, t.tolist())}


# ---------------------------------------------------------------------------- steps
def _to_device(batch: dict, device: torch.device) -> dict:
    def move(k, v):
        if isinstance(v, list) and v and torch.is_tensor(v[0]):  # cached trunk features
            return [x.to(device, non_blocking=True) for x in v]
        return v.to(device, non_blocking=True) if torch.is_tensor(v) and k != 'box_cells' else v
    return {k: move(k, v) for k, v in batch.items()}


def train_step(model, batch: dict, optimizer, scheduler, scaler, params, grad_clip: float,
               device: torch.device) -> dict[str, float]:
    """One SGD step on one batch; returns the loss, the gradient norm and response metrics.

    A step whose gradient is not finite is skipped (the learning-rate schedule still
    advances); with fp16 the GradScaler decides and lowers its scale.
    """
    batch = _to_device(batch, device)
    out = model(batch['template'], batch['search'], batch['label'], batch['box_cells'])
    loss = out['loss']
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else math.inf)
    finite = bool(torch.isfinite(norm))
    if scaler.is_enabled():
        scaler.step(optimizer)
        scaler.update()
    elif finite:
        optimizer.step()
    scheduler.step()
    metrics = response_metrics(out['response'], batch['offset'])
    metrics.update(loss=float(loss.detach()), grad_norm=float(norm), skipped=float(not finite))
    return metrics


@torch.no_grad()
def evaluate(model: ClipModel, dataset: ClipDataset, batch_size: int, num_workers: int,
             device: torch.device) -> dict[str, float]:
    """Mean loss and response metrics over a fixed set of held-out clips; where some clips hold
    a look-alike (``twin_offset``), also ``on_twin``, the share of those frames whose peak is
    nearer it than the target (:func:`~rar_tracking.train.step.twin_share`), and
    ``twin_frames``."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        worker_init_fn=worker_init, pin_memory=device.type == 'cuda')
    was_training = model.training
    model.eval()
    sums, peak_max, count, on, seen = {}, -math.inf, 0, 0, 0
    for batch in loader:
        batch = _to_device(batch, device)
        out = model(batch['template'], batch['search'], batch['label'], batch['box_cells'])
        n = batch['label'].shape[0]
        metrics = response_metrics(out['response'], batch['offset'])
        metrics['loss'] = float(out['loss'])
        peak_max = max(peak_max, metrics.pop('peak_max'))
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + v * n
        count += n
        if 'twin_offset' in batch:  # not in cached clips
            hits, frames = twin_share(out['response'], batch['offset'], batch['twin_offset'])
            on, seen = on + hits, seen + frames
    model.train(was_training)
    result = dict({k: v / count for k, v in sums.items()}, peak_max=peak_max)
    if seen:
        result.update(on_twin=on / seen, twin_frames=seen)
    return result


# ---------------------------------------------------------------------------- the run
def _seed_everything(cfg: TrainConfig, dev: torch.device) -> None:
    torch.set_num_threads(cfg.runtime.cpu_threads)
    torch.manual_seed(cfg.runtime.seed)
    np.random.seed(cfg.runtime.seed)
    random.seed(cfg.runtime.seed)
    if dev.type == 'cuda':
        torch.backends.cudnn.benchmark = True


def _window_values(window: dict[str, list[float]]) -> dict[str, float]:
    """What a logging window reports: maxima of peaks and norms, the count of skipped steps,
    the mean of the rest."""
    return {k: (max(v) if k in ('peak_max', 'grad_norm') else
                sum(v) if k == 'skipped' else sum(v) / len(v)) for k, v in window.items()}


class _Run:
    """One training run in ``out`` on this process: built, restored, run, exported (see
    :func:`train`, which calls the steps in order)."""

    def __init__(self, cfg: TrainConfig, out: Path, rank: int, world: int, dev: torch.device):
        self.cfg, self.out, self.rank, self.world, self.dev = cfg, out, rank, world, dev
        self.main = rank == 0
        self.step = 0

    def build(self) -> None:
        """Network, geometry, datasets, optimizer, schedule and GradScaler."""
        cfg, dev = self.cfg, self.dev
        net = self.net = build_network(cfg)
        self.params = configure_trainable(net, cfg.optim.heads_only)
        net.to(dev)
        self.geometry = Geometry.from_config(cfg.tracker_config,
                                             probe_feature_size(net, cfg.tracker_config.crop),
                                             net.output_stride)
        amp = cfg.optim.amp and dev.type == 'cuda'
        self.model = ClipModel(net, self.geometry, amp=amp).to(dev)
        self.train_set, self.val_set = build_datasets(cfg, self.geometry)
        self.workers = cfg.runtime.num_workers
        if cfg.runtime.cache_features:
            self._cache_features()
        self.steps_per_epoch = cfg.optim.samples_per_epoch // (cfg.optim.batch_size * self.world)
        if self.steps_per_epoch < 1:
            raise ValueError('optim.samples_per_epoch is smaller than one step of all processes')
        self.total_steps = cfg.optim.epochs * self.steps_per_epoch
        self.optimizer, self.scheduler = build_optimizer(self.params, cfg, self.total_steps)
        self.scaler = torch.amp.GradScaler('cuda', enabled=amp)

    def _cache_features(self) -> None:
        """Replace the datasets by :class:`CachedClips` (the frozen trunk run once); their
        items are then in memory, so the loaders use no worker processes."""
        r, o = self.cfg.runtime, self.cfg.optim
        count = r.cache_clips or o.samples_per_epoch
        self.train_set = CachedClips(self.train_set, self.net, count, self.dev, o.batch_size,
                                     r.num_workers)
        if self.val_set is not None:
            self.val_set = CachedClips(self.val_set, self.net, len(self.val_set), self.dev,
                                       o.batch_size, r.num_workers)
        self.workers = 0

    def restore(self, ckpt: dict[str, Any] | None, max_steps: int | None) -> None:
        """Load ``ckpt`` (when resuming), set where to stop, wrap the model for DDP."""
        if ckpt is not None:
            self.net.load_state_dict(ckpt['model'])
            self.optimizer.load_state_dict(ckpt['optimizer'])
            self.scheduler.load_state_dict(ckpt['scheduler'])
            self.scaler.load_state_dict(ckpt['scaler'])
            self.step = int(ckpt['step'])
            rng = ckpt['rng']
            set_rng_state(rng[self.rank] if isinstance(rng, list) else rng)
        self.stop_step = self.total_steps if max_steps is None else \
            min(self.total_steps, int(max_steps))
        self.ddp = self.model
        if self.world > 1:
            self.ddp = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.dev.index] if self.dev.type == 'cuda' else None)

    def open_outputs(self, resume: bool, progress: bool) -> None:
        """config.yaml, the run log, the history of a resumed run; says what will run."""
        out, cfg = self.out, self.cfg
        if self.main:
            out.mkdir(parents=True, exist_ok=True)
            (out / 'config.yaml').write_text(yaml.safe_dump(cfg.as_dict(), sort_keys=False))
        self.log = RunLog(out, self.main, self.step, self.stop_step, progress)
        self.history = json.loads((out / 'summary.json').read_text()).get('history', {}) \
            if resume and (out / 'summary.json').is_file() else {}
        self.history.setdefault('train', [])
        self.history.setdefault('val', [])
        if self.main:
            log.info('training %d steps (%d per epoch, %d process(es), batch %d) on %s; %d of %d '
                     'parameters trainable; feature map %d cells', self.stop_step - self.step,
                     self.steps_per_epoch, self.world, cfg.optim.batch_size, self.dev,
                     sum(p.numel() for p in self.params),
                     sum(p.numel() for p in self.net.parameters()), self.geometry.feature_size)

    def validate(self) -> None:
        if self.val_set is not None and self.main:
            values = evaluate(self.model, self.val_set, self.cfg.optim.batch_size,
                              self.workers, self.dev)
            self.log.scalars('val', self.step, values)
            self.history['val'].append(dict(step=self.step, **values))
        if self.world > 1:
            dist.barrier()

    def checkpoint(self, epoch_done: int | None) -> None:
        """last.pt (and epoch_NNN.pt after an epoch, keeping the newest few), on rank 0."""
        rng = rng_state()
        if self.world > 1:
            gathered = [None] * self.world
            dist.all_gather_object(gathered, rng)
            rng = gathered
        if not self.main:
            return
        state = {'format': CHECKPOINT_FORMAT, 'model': self.net.state_dict(),
                 'optimizer': self.optimizer.state_dict(),
                 'scheduler': self.scheduler.state_dict(), 'scaler': self.scaler.state_dict(),
                 'step': self.step, 'epoch': self.step // self.steps_per_epoch, 'rng': rng,
                 'config': self.cfg.as_dict(), 'world_size': self.world}
        folder = self.out / 'checkpoints'
        save_checkpoint(folder / 'last.pt', state)
        keep = self.cfg.runtime.keep_checkpoints
        if epoch_done is not None and keep:
            save_checkpoint(folder / f'epoch_{epoch_done:03d}.pt', state)
            for old in sorted(folder.glob('epoch_*.pt'))[:-keep]:
                old.unlink()

    def _loader(self, base_sampler, epoch: int) -> DataLoader:
        """The epoch's batches from the current step on (a resumed epoch skips what it did)."""
        skip = (self.step - epoch * self.steps_per_epoch) * self.cfg.optim.batch_size
        return DataLoader(self.train_set, batch_size=self.cfg.optim.batch_size,
                          sampler=EpochSampler(base_sampler, epoch, skip), drop_last=True,
                          num_workers=self.workers, worker_init_fn=worker_init,
                          pin_memory=self.dev.type == 'cuda')

    def run(self) -> float:
        """Train until ``stop_step``, validating and checkpointing after every epoch; the
        seconds it took."""
        cfg, per_epoch = self.cfg, self.steps_per_epoch
        if self.step == 0 and cfg.runtime.val_at_start:
            self.validate()
        start_time = time.time()
        window: dict[str, list[float]] = {}
        self.model.train()
        base_sampler = DistributedSampler(self.train_set, num_replicas=self.world, rank=self.rank,
                                          shuffle=True, seed=cfg.runtime.seed, drop_last=True)
        while self.step < self.stop_step:
            epoch = self.step // per_epoch
            for batch in self._loader(base_sampler, epoch):
                lr = self.optimizer.param_groups[0]['lr']
                metrics = train_step(self.ddp, batch, self.optimizer, self.scheduler, self.scaler,
                                     self.params, cfg.optim.grad_clip, self.dev)
                self.step += 1
                self.log.advance()
                for k, v in metrics.items():
                    window.setdefault(k, []).append(v)
                window.setdefault('lr', []).append(lr)
                if self.step % cfg.runtime.log_every == 0 or self.step == self.stop_step:
                    self._report(window, lr, epoch)
                    window = {}
                if self.step >= self.stop_step or self.step % per_epoch == 0:
                    break
            if self.step % per_epoch == 0:
                self.validate()
                self.checkpoint(self.step // per_epoch)
            elif self.step >= self.stop_step:
                self.checkpoint(None)
        return time.time() - start_time

    def _report(self, window: dict[str, list[float]], lr: float, epoch: int) -> None:
        values = _window_values(window)
        values['lr'] = lr
        values = _mean_over_ranks(values, self.dev, self.world)
        self.log.scalars('train', self.step, values, epoch=epoch)
        self.history['train'].append(dict(step=self.step, **values))

    def finish(self, elapsed: float, start_step: int) -> dict[str, Any]:
        """Export the weights and write summary.json (rank 0); the summary."""
        cfg, summary = self.cfg, {}
        if self.main:
            heads_only = cfg.export.heads_only if cfg.export.heads_only is not None \
                else cfg.optim.heads_only
            train_hist = self.history['train']
            weights = save_rar_weights(self.net, self.out / cfg.export.name,
                                       heads_only=heads_only, extra={
                'steps': str(self.step), 'total_steps': str(self.total_steps),
                'final_train_loss': f"{train_hist[-1]['loss']:.6g}" if train_hist else '',
                'trained_with': 'python -m rar_tracking.train'}, config=cfg.tracker_config)
            summary = {'steps': self.step, 'total_steps': self.total_steps,
                       'steps_per_epoch': self.steps_per_epoch, 'world_size': self.world,
                       'device': str(self.dev), 'seconds': elapsed,
                       'seconds_per_step': elapsed / max(self.step - start_step, 1),
                       'weights': str(weights), 'heads_only_export': heads_only,
                       'history': self.history}
            (self.out / 'summary.json').write_text(json.dumps(summary, indent=1))
        self.log.close()
        if self.world > 1:
            dist.barrier()
        return summary


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False, device: str | None = None,
          max_steps: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) a run in ``out``; returns the summary (also in summary.json).

    ``max_steps`` stops after that many optimizer steps in total (the learning-rate schedule
    still spans ``optim.epochs``); a later ``resume`` continues from there.
    """
    out = Path(out)
    rank, world, dev = setup_distributed(device or cfg.runtime.device)
    _seed_everything(cfg, dev)
    ckpt = checkpoint_to_resume(cfg, out, resume, world)
    run = _Run(cfg, out, rank, world, dev)
    run.build()
    run.restore(ckpt, max_steps)
    run.open_outputs(resume, progress)
    start_step = run.step
    elapsed = run.run()
    return run.finish(elapsed, start_step)
