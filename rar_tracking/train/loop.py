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
"""
from __future__ import annotations

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

from ..model.backbone import build_trunk
from ..model.rar import RARNet
from ..model.weights import load_rar_weights, save_rar_weights
from ..device import select_device
from .config import TrainConfig
from .data import AugmentSettings, ClipDataset, ClipSampler, EpochSampler, worker_init
from .sources import check_disjoint, load_sources
from ..geometry import Geometry, probe_feature_size
from .step import ClipModel, response_metrics

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 'rar_tracking.train/1'


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
    tc = cfg.tracker_config
    trunk = build_trunk(tc.trunk, tc.trunk_weights, tc.allow_random_trunk)
    net = RARNet(trunk, tc.feature_channels)
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
            a = cfg.augment
            val = ClipDataset(ClipSampler(val_seqs, cfg.clip, val_w), geometry,
                              cfg.runtime.val_samples,
                              AugmentSettings(a.shift, a.scale, 0.0, 0.0, 0.0, 0.0),
                              cfg.runtime.seed + 1_000_003)
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


# ---------------------------------------------------------------------------- checkpoints
def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state(legacy=False)
    state = {'torch': torch.get_rng_state(), 'python': random.getstate(),
             'numpy': {'bit_generator': np_state['bit_generator'],
                       'key': torch.from_numpy(np_state['state']['key'].astype(np.int64)),
                       'pos': int(np_state['state']['pos']),
                       'has_gauss': int(np_state['has_gauss']),
                       'gauss': float(np_state['gauss'])}}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state['torch'])
    random.setstate(_as_tuple(state['python']))
    n = state['numpy']
    np.random.set_state({'bit_generator': n['bit_generator'],
                         'state': {'key': n['key'].numpy().astype(np.uint32), 'pos': n['pos']},
                         'has_gauss': n['has_gauss'], 'gauss': n['gauss']})
    if 'cuda' in state and torch.cuda.is_available() and \
            len(state['cuda']) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state['cuda'])


def _as_tuple(x):
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically (a crash never leaves a half-written last.pt)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f'no checkpoint to resume from: {path}')
    state = torch.load(path, map_location='cpu', weights_only=True)
    if state.get('format') != CHECKPOINT_FORMAT:
        raise ValueError(f'{path}: not a rar_tracking training checkpoint')
    return state


def _config_differences(a: dict, b: dict, prefix: str = '') -> list[str]:
    keys = sorted(set(a) | set(b))
    diffs = []
    for k in keys:
        name = f'{prefix}{k}'
        if isinstance(a.get(k), dict) and isinstance(b.get(k), dict):
            diffs += _config_differences(a[k], b[k], name + '.')
        elif a.get(k) != b.get(k):
            diffs.append(name)
    return diffs


# ---------------------------------------------------------------------------- steps
def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) and k != 'box_cells' else v
            for k, v in batch.items()}


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
    """Mean loss and response metrics over a fixed set of held-out clips."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        worker_init_fn=worker_init, pin_memory=device.type == 'cuda')
    was_training = model.training
    model.eval()
    sums, peak_max, count = {}, -math.inf, 0
    for batch in loader:
        batch = _to_device(batch, device)
        out = model(batch['template'], batch['search'], batch['label'], batch['box_cells'])
        n = batch['template'].shape[0]
        metrics = response_metrics(out['response'], batch['offset'])
        metrics['loss'] = float(out['loss'])
        peak_max = max(peak_max, metrics.pop('peak_max'))
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + v * n
        count += n
    model.train(was_training)
    return dict({k: v / count for k, v in sums.items()}, peak_max=peak_max)


# ---------------------------------------------------------------------------- the run
class _Logger:
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


def train(cfg: TrainConfig, out: str | Path, *, resume: bool = False, device: str | None = None,
          max_steps: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) a run in ``out``; returns the summary (also in summary.json).

    ``max_steps`` stops after that many optimizer steps in total (the learning-rate schedule
    still spans ``optim.epochs``); a later ``resume`` continues from there.
    """
    out = Path(out)
    rank, world, dev = setup_distributed(device or cfg.runtime.device)
    main = rank == 0
    torch.set_num_threads(cfg.runtime.cpu_threads)
    seed = cfg.runtime.seed
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    if dev.type == 'cuda':
        torch.backends.cudnn.benchmark = True

    ckpt = None
    if not resume and (out / 'checkpoints' / 'last.pt').exists():
        raise ValueError(f'{out} already holds a run (checkpoints/last.pt): continue it with '
                         '--resume or choose another --out')
    if resume:
        ckpt = load_checkpoint(out / 'checkpoints' / 'last.pt')
        stored = dict(ckpt['config'])
        current = cfg.as_dict()
        diffs = [d for d in _config_differences(stored, current)
                 if not d.startswith(('runtime.device', 'runtime.num_workers',
                                      'runtime.log_every', 'base_dir'))]
        if diffs:
            raise ValueError(f'cannot resume {out}: the configuration differs from the '
                             f"checkpoint's in {diffs[:8]}")
        if ckpt['world_size'] != world:
            raise ValueError(f'cannot resume {out}: it ran on {ckpt["world_size"]} processes, '
                             f'this run has {world} (the data order would change)')

    net = build_network(cfg)
    params = configure_trainable(net, cfg.optim.heads_only)
    net.to(dev)
    geometry = Geometry.from_config(cfg.tracker_config,
                                    probe_feature_size(net, cfg.tracker_config.crop))
    amp = cfg.optim.amp and dev.type == 'cuda'
    model = ClipModel(net, geometry, amp=amp).to(dev)
    train_set, val_set = build_datasets(cfg, geometry)

    steps_per_epoch = cfg.optim.samples_per_epoch // (cfg.optim.batch_size * world)
    if steps_per_epoch < 1:
        raise ValueError('optim.samples_per_epoch is smaller than one step of all processes')
    total_steps = cfg.optim.epochs * steps_per_epoch
    optimizer, scheduler = build_optimizer(params, cfg, total_steps)
    scaler = torch.amp.GradScaler('cuda', enabled=amp)
    step = 0
    if ckpt is not None:
        net.load_state_dict(ckpt['model'])
        optimizer.load_state_dict(ckpt['optimizer'])
        scheduler.load_state_dict(ckpt['scheduler'])
        scaler.load_state_dict(ckpt['scaler'])
        step = int(ckpt['step'])
        _set_rng_state(ckpt['rng'][rank] if isinstance(ckpt['rng'], list) else ckpt['rng'])
    stop_step = total_steps if max_steps is None else min(total_steps, int(max_steps))

    ddp = model
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == 'cuda' else None)

    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / 'config.yaml').write_text(yaml.safe_dump(cfg.as_dict(), sort_keys=False))
    logger = _Logger(out, main, step, stop_step, progress)
    history = json.loads((out / 'summary.json').read_text()).get('history', {}) \
        if resume and (out / 'summary.json').is_file() else {}
    history.setdefault('train', [])
    history.setdefault('val', [])
    if main:
        log.info('training %d steps (%d per epoch, %d process(es), batch %d) on %s; %d of %d '
                 'parameters trainable; feature map %d cells', stop_step - step, steps_per_epoch,
                 world, cfg.optim.batch_size, dev, sum(p.numel() for p in params),
                 sum(p.numel() for p in net.parameters()), geometry.feature_size)

    def validate() -> None:
        if val_set is not None and main:
            values = evaluate(model, val_set, cfg.optim.batch_size, cfg.runtime.num_workers, dev)
            logger.scalars('val', step, values)
            history['val'].append(dict(step=step, **values))
        if world > 1:
            dist.barrier()

    def checkpoint(epoch_done: int | None) -> None:
        rng = _rng_state()
        if world > 1:
            gathered = [None] * world
            dist.all_gather_object(gathered, rng)
            rng = gathered
        if not main:
            return
        state = {'format': CHECKPOINT_FORMAT, 'model': net.state_dict(),
                 'optimizer': optimizer.state_dict(), 'scheduler': scheduler.state_dict(),
                 'scaler': scaler.state_dict(), 'step': step,
                 'epoch': step // steps_per_epoch, 'rng': rng, 'config': cfg.as_dict(),
                 'world_size': world}
        save_checkpoint(out / 'checkpoints' / 'last.pt', state)
        if epoch_done is not None and cfg.runtime.keep_checkpoints:
            save_checkpoint(out / 'checkpoints' / f'epoch_{epoch_done:03d}.pt', state)
            kept = sorted((out / 'checkpoints').glob('epoch_*.pt'))
            for old in kept[:-cfg.runtime.keep_checkpoints]:
                old.unlink()

    if step == 0 and cfg.runtime.val_at_start:
        validate()
    start_time, start_step = time.time(), step
    window: dict[str, list[float]] = {}
    model.train()
    base_sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True,
                                      seed=seed, drop_last=True)
    while step < stop_step:
        epoch = step // steps_per_epoch
        skip = (step - epoch * steps_per_epoch) * cfg.optim.batch_size
        loader = DataLoader(train_set, batch_size=cfg.optim.batch_size,
                            sampler=EpochSampler(base_sampler, epoch, skip), drop_last=True,
                            num_workers=cfg.runtime.num_workers, worker_init_fn=worker_init,
                            pin_memory=dev.type == 'cuda')
        for batch in loader:
            lr = optimizer.param_groups[0]['lr']
            metrics = train_step(ddp, batch, optimizer, scheduler, scaler, params,
                                 cfg.optim.grad_clip, dev)
            step += 1
            logger.advance()
            for k, v in metrics.items():
                window.setdefault(k, []).append(v)
            window.setdefault('lr', []).append(lr)
            if step % cfg.runtime.log_every == 0 or step == stop_step:
                values = {k: (max(v) if k in ('peak_max', 'grad_norm') else
                              sum(v) if k == 'skipped' else sum(v) / len(v))
                          for k, v in window.items()}
                values['lr'] = lr
                values = _mean_over_ranks(values, dev, world)
                logger.scalars('train', step, values, epoch=epoch)
                history['train'].append(dict(step=step, **values))
                window = {}
            if step >= stop_step or step % steps_per_epoch == 0:
                break
        if step % steps_per_epoch == 0:
            validate()
            checkpoint(step // steps_per_epoch)
        elif step >= stop_step:
            checkpoint(None)
    elapsed = time.time() - start_time

    summary: dict[str, Any] = {}
    if main:
        heads_only = cfg.export.heads_only if cfg.export.heads_only is not None \
            else cfg.optim.heads_only
        train_hist = history['train']
        weights = save_rar_weights(net, out / cfg.export.name, heads_only=heads_only, extra={
            'steps': str(step), 'total_steps': str(total_steps),
            'final_train_loss': f"{train_hist[-1]['loss']:.6g}" if train_hist else '',
            'trained_with': 'python -m rar_tracking.train'})
        summary = {'steps': step, 'total_steps': total_steps, 'steps_per_epoch': steps_per_epoch,
                   'world_size': world, 'device': str(dev),
                   'seconds': elapsed, 'seconds_per_step': elapsed / max(step - start_step, 1),
                   'weights': str(weights), 'heads_only_export': heads_only,
                   'history': history}
        (out / 'summary.json').write_text(json.dumps(summary, indent=1))
    logger.close()
    if world > 1:
        dist.barrier()
    return summary
