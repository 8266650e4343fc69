"""The RAR tracker: ``initialize(image, box)`` then ``track(image)`` frame after frame.

State between frames (:class:`TrackerState`): the attention module's ConvLSTM (h, c) per stage,
the template set of the correlation filter (Eq. 10 terms with weights beta_t), position, size,
the reference peak and the lost counter. The backbone is never updated online; the filter is.

One frame of ``track``:
1. crop the search area around the last position at ``num_scales`` sizes (step ``scale_step``),
   resize each crop to ``crop_size`` (Section 4.1);
2. phi^a(x) for every scale with the stored attention state (Eq. 3-7 and the refinement);
3. the response g(x) of Eq. 11 per scale; the best peak after ``scale_penalty`` gives the scale,
   its (sub-cell) position the displacement;
4. confidence = peak / reference peak, clipped to [0, 1]; the reference is the peak of the
   first filter on the first frame's crop (seen as a search crop is), so 1 means "as well
   matched as the box the user gave";
5. only when confidence >= ``confidence_threshold``: the new template (the crop's features,
   re-centred on the new position) joins the template set with weight ``learning_rate`` and
   the attention state advances. A frame with confidence < ``lost_threshold`` is a miss (the
   box holds still); ``lost_frames`` misses in a row make the state LOST: the filter and the
   memory freeze (never learn the background) and the search covers ``lost_search_factor``
   times the side with a 3x3 grid of normal crops (same resolution, window and memory as a
   normal frame), until a peak reaches ``recover_threshold``.

Issue 14's mechanisms, each off by default unless docs/evaluation.md shows it kept. Kept (on):
a constant-velocity prediction of the centre on which the crops are centred while the target
moves at least ``motion_min_speed`` of the search side per frame (:mod:`rar_tracking.motion`).
Off: a choice between the response's top peaks around that prediction (``peak_candidates`` >
1); a search square of at least ``min_search_px`` image pixels (:mod:`rar_tracking.search`); a
LOST search that grows
(``lost_search_growth``) and covers the whole frame after ``redetect_after`` LOST frames; a
second search from a crop centred on the estimate when the target was found far from the
crop centre (``recentre``); a colour model whose answer is merged with the response to choose
the position (``colour_weight``, :mod:`rar_tracking.colour`); a flatter (Tukey) window on the
search features (``window_taper``), only while the target moves fast
(``flat_window_speed``), only while no look-alike's peak is in the last response
(``crowd_ratio``) or only where its answer agrees with the Hann window's
(``window_agreement``), and the Hann window on the choice of the peak instead
(``response_window``); the size from a one-dimensional scale filter (DSST) instead of the
pyramid, so that the network runs on one crop per frame (``scale_filter``,
:mod:`rar_tracking.scale_filter`); a correction of the reported box (centre, width and height)
by a ridge regression on the crop's features, learned on the first frame
(``box_regression``, :mod:`rar_tracking.box_regression`).
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .box_regression import VIEW_SCALES, BoxRegressor
from .colour import ColourModel
from .config import TrackerConfig
from .device import select_device
from .egomotion import GlobalShift
from .errors import InvalidBoxError, InvalidImageError, NotInitializedError
from .geometry import Geometry, probe_feature_size
from .hog import CHANNELS as HOG_CHANNELS, crop_orientations
from .imaging import as_rgb_image, crop_square, crop_squares_torch, validate_box
from .model.attention import AttentionState
from .model.backbone import resolve_trunk_name
from .model.correlation import (TemplateSet, cacf_terms, correlation_response,
                                cosine_window, gaussian_label,
                                peak_and_psr, shift_zero_fill, subpixel_offset, template_patches)
from .model.rar import RARNet, build_network
from .motion import ConstantVelocity, choose_peak, look_alike_ratio, within
from .profiling import SectionTimer
from .scale_filter import ScaleFilter
from .search import lost_plan, search_side
from .types import Box, TrackResult, TrackState

log = logging.getLogger(__name__)


@dataclass
class TrackerState:
    """Everything ``track`` needs from the previous frames (copy with ``copy.deepcopy``)."""

    center: tuple[float, float]
    size: tuple[float, float]
    base_size: tuple[float, float]
    image_size: tuple[int, int]  # (width, height)
    attention: list[AttentionState]
    templates: TemplateSet
    peak_ref: float
    status: TrackState = TrackState.TRACKING
    misses: int = 0
    frame: int = 0
    last: TrackResult | None = None
    last_image: np.ndarray | None = None  # to learn again when the search area changes
    motion: ConstantVelocity | None = None  # the centre's velocity (motion_prior)
    lost_count: int = 0  # frames searched while LOST
    lost_cursor: int = 0  # where the LOST search goes on in its tiles
    colour: ColourModel | None = None  # the target's colour histograms (colour_weight)
    scales: ScaleFilter | None = None  # the size's own filter (scale_filter)
    crowded: bool = False  # the last response had a look-alike's peak (crowd_ratio)
    hog_gain: float = 0.0  # the factor on the HOG channels (hog_weight), fixed on frame 0
    camera: GlobalShift | None = None  # the frame's global shift (camera_motion)
    regressor: BoxRegressor | None = None  # the box's correction (box_regression); read only
    size_correction: tuple[float, float] = (0.0, 0.0)  # its averaged log (w, h) correction

    def __deepcopy__(self, memo):
        return TrackerState(self.center, self.size, self.base_size, self.image_size,
                            [s.clone() for s in self.attention], self.templates.copy(),
                            self.peak_ref, self.status, self.misses, self.frame,
                            copy.deepcopy(self.last, memo), self.last_image,
                            copy.copy(self.motion), self.lost_count, self.lost_cursor,
                            self.colour.copy() if self.colour is not None else None,
                            self.scales.copy() if self.scales is not None else None,
                            self.crowded, self.hog_gain,
                            self.camera.copy() if self.camera is not None else None,
                            self.regressor, self.size_correction)


class RARTracker:
    """Reinforced attentional representation + contextual attentional correlation filter.

    Args:
        config: every tunable (see :class:`~rar_tracking.config.TrackerConfig`).
        net: an already built network to share (e.g. between trackers or with training);
            by default one is built from ``config``.
    """

    def __init__(self, config: TrackerConfig | None = None, net: RARNet | None = None):
        self.config = config = copy.deepcopy(config) if config is not None else TrackerConfig()
        config.validate()
        torch.set_num_threads(config.cpu_threads)
        self.device = select_device(config.device)
        chose_backend = config.backend == 'auto' and not config.onnx_model  # a file: explicit
        asked = config
        self.config = config = config.resolved(self.device.type)  # 'auto' values by device
        own_net = net is None
        self.trunk_name = resolve_trunk_name(config.trunk, config.trunk_weights) \
            if config.trunk == 'auto' else config.trunk
        self._channels_last = own_net
        self.net = self._own_network(config) if own_net else net.to(self.device).eval()
        self.timer = SectionTimer(False, self.device)  # benchmark --profile switches it on
        # What runs the per-frame network: the torch module, or an ONNX Runtime session with the
        # same call signature, (crops, attention states) -> (phi^a, new states, maps).
        self.run_net = self.net
        if config.backend == 'onnxruntime':
            from .model.onnx_backend import make_onnx_runner  # optional dependency
            try:
                self.run_net = make_onnx_runner(self.net, config, self.device)
            except Exception as exc:
                if not chose_backend:
                    raise  # asked for explicitly: the caller hears why
                # backend 'auto' picked ONNX Runtime because it is installed; if it cannot
                # run this network after all, torch does, with one warning saying why
                # profile 'auto' means what it means for torch then ('fast' on a CPU): the
                # network is rebuilt for it (one that was passed in keeps its profile)
                fallback = (asked if own_net else config).replace(backend='torch').resolved(
                    self.device.type)
                log.warning('backend auto: ONNX Runtime failed (%s: %s); running torch with '
                            "profile '%s'", type(exc).__name__, exc, fallback.profile)
                if fallback.profile != config.profile:
                    self.net = self._own_network(fallback)
                self.config = config = fallback
        if self.device.type == 'cuda':
            self.net.half_trunk = config.half_precision
            if config.backend == 'torch' and config.cuda_graphs:
                from .model.cuda_graph import CudaGraphRunner
                self.run_net = CudaGraphRunner(self.net)
        side = probe_feature_size(self.net, config.crop)  # also warms up
        self.feature_size = (side, side)
        self.stride = self.net.output_stride
        self._prepare_filter_constants()
        self._state: TrackerState | None = None

    # ------------------------------------------------------------------ configuration
    def _own_network(self, config: TrackerConfig) -> RARNet:
        """The network ``config`` describes, built for this tracker alone, with inference-only
        speed-ups (a network passed in, e.g. shared with training, is left exactly as it is):
        BatchNorm folded into the convolutions, NHWC memory, faster for the trunk's (depthwise)
        convolutions on CPU and CUDA alike, and the refinement's convolutions that are still
        exact identities (untrained) skipped."""
        net = build_network(config).to(self.device).eval()  # seeded from init_seed
        net.trunk.fold_batchnorm()
        net.trunk.to(memory_format=torch.channels_last)
        net.refinement.skip_identities()  # untrained refinement: identities, skipped
        return net

    def _prepare_filter_constants(self) -> None:
        c, fs = self.config, self.feature_size
        self.geometry = Geometry.from_config(c, fs[0], self.stride)
        self.label = gaussian_label(fs, self.geometry.sigma, device=self.device)
        self.label_hat = torch.fft.rfft2(self.label)
        # window_taper shapes every window, or with flat_window_speed only the search's while
        # the target moves fast (the templates keep the Hann window then)
        self.window = cosine_window(fs, taper=1.0 if c.flat_window_speed > 0 else c.window_taper,
                                    device=self.device)
        self.fast_window = (cosine_window(fs, taper=c.window_taper, device=self.device)
                            if c.flat_window_speed > 0 else self.window)
        # crowd_ratio, window_agreement: the Hann window for the search when in doubt (the
        # templates' window when that is the Hann window already)
        self.crowd_window = (cosine_window(fs, device=self.device)
                             if (c.crowd_ratio > 0 or c.window_agreement) and c.window_taper < 1
                             and c.flat_window_speed == 0 else self.window)
        # the Hann window with its peak at zero displacement (index 0 of the wrapped response)
        self.response_prior = torch.fft.ifftshift(cosine_window(fs)).cpu()
        # with scale_filter the size has its own filter: one crop per frame
        self.scale_factors = [1.0] if c.scale_filter else [
            c.scale_step ** s for s in range(-(c.num_scales // 2), c.num_scales // 2 + 1)]

    def update_config(self, **changes) -> None:
        """Change dynamic fields while tracking; a non-dynamic field raises ValueError."""
        fixed = set(changes) - TrackerConfig.dynamic_fields()
        if fixed:
            raise ValueError(f'{sorted(fixed)} cannot change while the tracker runs '
                             f'(build a new tracker); dynamic: {sorted(TrackerConfig.dynamic_fields())}')
        old = self.config
        self.config = self.config.replace(**changes)
        self._prepare_filter_constants()
        st = self._state
        if (st is not None and st.last_image is not None
                and self.config.search_area_factor != old.search_area_factor):
            # The templates, context offsets and confidence reference were made at the old
            # search scale (the target covered another number of cells): learn them again at
            # the new one, on the last frame at the current box, so that filter and search agree.
            status, frame, misses = st.status, st.frame, st.misses
            self.initialize(st.last_image, Box.from_center(*st.center, *st.size))
            self._state.status, self._state.frame, self._state.misses = status, frame, misses

    # ------------------------------------------------------------------ state
    @property
    def is_initialized(self) -> bool:
        return self._state is not None

    @property
    def state(self) -> TrackState:
        return self._state.status if self._state is not None else TrackState.IDLE

    def reset(self) -> None:
        """Forget the target, the filter and the attention memory."""
        self._state = None

    def get_state(self) -> TrackerState | None:
        """A deep copy of the tracking state (to restore later with ``set_state``)."""
        return copy.deepcopy(self._state)

    def set_state(self, state: TrackerState | None) -> None:
        self._state = copy.deepcopy(state)

    # ------------------------------------------------------------------ features
    def _features(self, image: np.ndarray, centers, sides: list[float], out: int,
                  attention: list[AttentionState] | None, hog_gain: float | None = None):
        """Crops (one per centre and side) -> phi^a (N, C, h, w) and the new attention states;
        with hog_weight the crops' HOG channels follow the deep ones, times ``hog_gain``
        (default: the target's)."""
        crops = None
        with self.timer.section('crop and resize'):
            if self.device.type == 'cuda':  # upload the frame once, crop on the GPU
                frame = torch.from_numpy(image).to(self.device, non_blocking=True)
                batch = crop_squares_torch(frame.permute(2, 0, 1).float(), centers, sides, out)
            else:
                crops = np.stack([crop_square(image, cx, cy, s, out)
                                  for (cx, cy), s in zip(centers, sides)])
                batch = torch.from_numpy(crops).permute(0, 3, 1, 2).float()
            if self._channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
        states = [s.expand(len(sides)) for s in attention] if attention else None
        phi, new_states, _ = self.run_net(batch, states)
        if self.config.hog_weight > 0:
            with self.timer.section('orientation features (hog_weight)'):
                if crops is None:  # on CUDA the network's crops stay there: cut them on the CPU
                    crops = np.stack([crop_square(image, cx, cy, s, out)
                                      for (cx, cy), s in zip(centers, sides)])
                hog = torch.from_numpy(crop_orientations(crops, phi.shape[-1], self.stride))
                gain = self._state.hog_gain if hog_gain is None else hog_gain
                phi = torch.cat([phi, gain * hog.to(phi.device, phi.dtype)], dim=1)
        return phi, new_states

    def _template_terms(self, phi: torch.Tensor, box_cells: tuple[float, float],
                        colour: np.ndarray | None = None):
        """Eq. 10's terms of a template crop (target at its centre). ``colour`` (colour_mask):
        the colour likelihood per cell of that crop, which weighs z0's target window,
        normalised to mean 1 under the window (a colour that says nothing, 0.5 everywhere,
        leaves the window as it is)."""
        g = self.geometry
        target = g.target_window(box_cells, device=phi.device)
        if colour is not None:
            cells = torch.from_numpy(colour).to(phi.device, torch.float32)
            weight = torch.ones_like(cells) if target is None else target.to(torch.float32)
            mean = float((weight * cells).sum() / weight.sum().clamp_min(1e-12))
            target = (weight * cells / max(mean, 1e-6)).to(phi.dtype)
        z0, ctx = template_patches(phi, self.window, g.offsets(box_cells), target)
        return cacf_terms(z0, ctx, self.label_hat)

    def _colour_cells(self, colour: ColourModel, image: np.ndarray, center, side: float,
                      like: torch.Tensor) -> np.ndarray | None:
        """The colour likelihood per feature cell of the template crop at ``center`` when
        colour_mask is on, else None."""
        if not self.config.colour_mask:
            return None
        with self.timer.section('colour mask (colour_mask)'):
            return colour.cell_map(image, center, side, self.config.crop, like.shape[-1],
                                   self.stride)

    def _lost_grid(self, center, side: float, width: int, height: int) -> list[tuple[float, float]]:
        """Centres of the LOST search: a 3x3 grid whose crops together cover
        ``lost_search_factor`` times the normal search side (kept inside the image)."""
        step = max(self.config.lost_search_factor - 1.0, 0.0) * side / 2.0
        if step == 0.0:
            return [center]
        grid = [(center[0] + i * step, center[1] + j * step)
                for j in (0, -1, 1) for i in (0, -1, 1)]
        return [_in_image(p, width, height) for p in grid]

    def _box_cells(self, size, side) -> tuple[float, float]:
        return self.geometry.box_cells(size[0], size[1], side)

    def _target_radius(self, side: float) -> float:
        """Half the target's larger side in feature cells of a crop of ``side`` pixels: how far
        from the peak a response's local maximum is something else (crowd_ratio,
        window_agreement)."""
        return max(self._box_cells(self._state.size, side)) / 2.0

    def _side(self, size, image_size=None) -> float:
        width, height = image_size or self._state.image_size
        return search_side(self.geometry.side(size[0], size[1]), self.config.min_search_px,
                           width, height)

    # ------------------------------------------------------------------ API
    @torch.no_grad()
    def initialize(self, image, box) -> TrackResult:
        """Start tracking the target in ``box`` (x, y, w, h; pixels) of ``image`` (RGB)."""
        start = time.perf_counter()
        image = as_rgb_image(image)
        height, width = image.shape[:2]
        box = validate_box(box, width, height)
        size = (max(box.w, self.config.min_size), max(box.h, self.config.min_size))
        center = box.center
        side = self._side(size, (width, height))
        phi, attention = self._features(image, [center], [side], self.config.crop, None,
                                         hog_gain=1.0)
        hog_gain = 0.0
        if self.config.hog_weight > 0:  # the HOG block's energy: hog_weight times the deep one's
            phi, hog = phi[:, :-HOG_CHANNELS], phi[:, -HOG_CHANNELS:]
            energy = float((hog ** 2).sum(dim=1).mean())
            if energy > 0:
                hog_gain = math.sqrt(self.config.hog_weight
                                     * float((phi ** 2).sum(dim=1).mean()) / energy)
            phi = torch.cat([phi, hog_gain * hog], dim=1)
        colour = ColourModel(self.config.colour_bins)
        colour.learn(image, center, size, side)
        with self.timer.section('correlation filter (Eq. 10)'):
            terms = self._template_terms(phi, self._box_cells(size, side),
                                         self._colour_cells(colour, image, center, side, phi))
            templates = TemplateSet(self.config.num_templates, self.config.first_template_weight)
            templates.add(terms, self.config.learning_rate)
            w_hat = templates.filter(self.config.lambda1, self.config.lambda2)
        # The reference is the filter's answer on the template crop as a search crop is seen
        # (crop window only, not z0's target window), so that confidence 1 means "as well
        # matched as the first frame" and does not saturate on frames that merely match well.
        response = correlation_response(w_hat, phi * self.window).float().cpu()
        peaks, _, psrs = peak_and_psr(response)
        peak_ref, psr = float(peaks[0]), float(psrs[0])
        if not math.isfinite(peak_ref) or peak_ref <= 0:
            raise InvalidBoxError(f'the box {box.as_tuple()} gives no usable template '
                                  '(a flat or empty image region)')
        self._state = TrackerState(center, size, size, (width, height), attention, templates,
                                   peak_ref, last_image=image.copy(),
                                   motion=ConstantVelocity(self.config.motion_lr,
                                                           gate=self.config.motion_gate),
                                   colour=colour,
                                   hog_gain=hog_gain,
                                   camera=GlobalShift(image) if self.config.camera_motion else None)
        if self.config.scale_filter:
            with self.timer.section('scale filter'):
                self._state.scales = ScaleFilter(self.config.scale_filter, self.config.scale_step)
                self._state.scales.learn(image, center, size)
        if self.config.box_regression:
            with self.timer.section('box regression'):
                self._state.regressor = BoxRegressor(self.config.box_regression_lambda,
                                                     seed=self.config.init_seed)
                views, sides = self._regression_views(image, center, side, hog_gain)
                self._state.regressor.fit(views, (*center, *size), center, sides,
                                          self.config.crop, self.stride)
        result = TrackResult(Box.from_center(*center, *size), TrackState.TRACKING, 1.0, peak_ref,
                             psr, 1.0, (time.perf_counter() - start) * 1e3)
        self._state.last = result
        return result

    @torch.no_grad()
    def track(self, image) -> TrackResult:
        """Locate the target in the next frame."""
        if self._state is None:
            raise NotInitializedError('track() before initialize(): set a target first')
        start = time.perf_counter()
        image = as_rgb_image(image)
        st, c = self._state, self.config
        height, width = image.shape[:2]
        if (width, height) != st.image_size:
            raise InvalidImageError(f'image size changed from {st.image_size[0]}x'
                                    f'{st.image_size[1]} to {width}x{height}; '
                                    'initialize the target again')
        st.frame += 1
        w_hat = st.templates.filter(c.lambda1, c.lambda2)
        lost = st.status == TrackState.LOST
        shift = None
        if st.camera is not None:
            with self.timer.section('global shift (camera_motion)'):
                shift = st.camera.update(image)
        centers, sides, penalties = self._search_plan(width, height, shift)
        phi, new_states = self._features(image, centers, sides, c.crop, st.attention)
        with self.timer.section('response (Eq. 11) and copy to host'):
            # the response maps are small: one copy to the host, then no more device syncs
            window = (self.crowd_window if st.crowded and not lost else
                      self.fast_window if self._moving_fast() else self.window)
            response = correlation_response(w_hat, phi * window).float().cpu()
            check = (c.window_agreement and c.window_taper < 1.0 and not lost
                     and window is not self.crowd_window)  # the flat window's answer
            if check:
                hann = correlation_response(w_hat, phi * self.crowd_window).float().cpu()
        with self.timer.section('peak, PSR and scale choice'):
            peaks, idx, psrs = peak_and_psr(response)
            scored = peaks * torch.tensor(penalties)
            best = int(scored.argmax())
            if check:  # where the Hann window's answer is elsewhere, it is taken
                h_peaks, h_idx, h_psrs = peak_and_psr(hann)
                h_best = int((h_peaks * torch.tensor(penalties)).argmax())
                if not within(idx[best].tolist(), h_idx[h_best].tolist(), hann.shape,
                              self._target_radius(sides[best])):
                    response, peaks, idx, psrs = hann, h_peaks, h_idx, h_psrs
                    scored, best = h_peaks * torch.tensor(penalties), h_best
            peak, psr = float(peaks[best]), float(psrs[best])
            cell_px = self.geometry.cell_pixels(sides[best])
            iy, ix = idx[best].tolist()
            choice = response[best]  # the map the position is read from
            if (c.colour_weight > 0 or c.response_window) and not lost and math.isfinite(peak):
                choice = self._choice_map(image, choice, centers[best], sides[best])
                iy, ix = divmod(int(choice.argmax()), choice.shape[1])
            if c.motion_prior and not lost:  # the crop is centred on the prediction
                _, iy, ix = choose_peak(choice, c.peak_candidates,
                                        c.motion_sigma * math.sqrt(st.size[0] * st.size[1])
                                        / cell_px)
            peak = float(response[best][iy, ix])  # confidence: the filter's own value there
            if c.crowd_ratio > 0:  # decides the next frame's search window
                st.crowded = (not lost and look_alike_ratio(
                    response[best], iy, ix, self._target_radius(sides[best])) >= c.crowd_ratio)
            dy, dx = subpixel_offset(choice, iy, ix)
        # the chosen crop: its centre, features and the attention state it leaves
        crop_center, phi = centers[best], phi[best:best + 1]
        new_states = [s.select(best) for s in new_states]
        if (c.recentre > 0 and not lost and math.isfinite(peak)
                and math.hypot(dy, dx) * cell_px > c.recentre * sides[best]):
            crop_center, phi, new_states, peak, psr, dy, dx = self._recentre(
                image, w_hat, crop_center, sides[best], dy, dx, cell_px)
        confidence = float(np.clip(peak / st.peak_ref, 0.0, 1.0)) if math.isfinite(peak) else 0.0

        found = confidence >= (c.recover_threshold if lost else c.lost_threshold)
        reported = None  # the box reported when it is not the tracker's own (box_regression)
        if found:
            old = st.center
            center = (crop_center[0] + dx * cell_px, crop_center[1] + dy * cell_px)
            scale = 1.0 if lost else self.scale_factors[best % len(self.scale_factors)]
            if st.scales is not None and not lost:  # the size's own filter, at the new centre
                with self.timer.section('scale filter'):
                    scale = self._filter_scale(image, center)
            self._move(center, scale, width, height)
            if st.regressor is not None and not lost:
                with self.timer.section('box regression'):
                    reported = self._regress(phi, crop_center, sides[best], width, height)
            if lost:
                st.motion.reset()
            else:
                st.motion.found(old, st.center)
            if not lost and confidence >= c.confidence_threshold:
                with self.timer.section('filter update (Eq. 10)'):
                    # the memory follows the next crop's centre, in this crop's cells
                    nxt = self._search_center(width, height)
                    mem = ((nxt[1] - crop_center[1]) / cell_px,
                           (nxt[0] - crop_center[0]) / cell_px)
                    self._learn(phi, dy, dx, new_states, mem, image)
                if c.colour_weight > 0 or c.colour_mask:
                    st.colour.learn(image, st.center, st.size, self._side(st.size), c.colour_lr)
                if st.scales is not None:
                    with self.timer.section('scale filter'):
                        st.scales.learn(image, st.center, st.size, c.scale_filter_lr)
        else:
            st.misses += 1
            st.motion.missed()
            if lost:
                st.lost_count += 1
            elif st.misses >= c.lost_frames:
                st.status, st.lost_count, st.lost_cursor = TrackState.LOST, 0, 0
                st.motion.reset()
        box = (Box.from_center(*reported) if reported is not None
               else Box.from_center(*st.center, *st.size))
        result = TrackResult(box, st.status, confidence, peak,
                             psr, math.sqrt(st.size[0] * st.size[1] /
                                            (st.base_size[0] * st.base_size[1])),
                             (time.perf_counter() - start) * 1e3,
                             {'scale_index': best % len(self.scale_factors), 'crop_index': best,
                              # the raw peaks of the chosen crop's pyramid, smallest crop first
                              'scale_peaks': [] if lost else self._pyramid_peaks(peaks, best)})
        st.last = result
        st.last_image = image.copy()  # the caller may reuse its buffer
        return result

    def _regression_views(self, image: np.ndarray, center, side: float, hog_gain: float
                          ) -> tuple[torch.Tensor, list[float]]:
        """The crops box_regression learns from: centred on ``center``, the side a crop has for
        boxes of each of ``VIEW_SCALES`` times the target's size (``side`` for the size
        itself); returns their features (5, C, h, w) and sides."""
        sides = [side * f for f in VIEW_SCALES]
        views, _ = self._features(image, [center] * len(sides), sides, self.config.crop, None,
                                  hog_gain=hog_gain)
        return views, sides

    def _regress(self, phi: torch.Tensor, crop_center, side: float, width: int, height: int
                 ) -> tuple[float, float, float, float]:
        """box_regression: the tracked box (just moved) corrected from the chosen crop's
        features phi (1, C, h, w); ``box_regression_lr`` of the correction goes into the
        tracker's own centre and size. Returns the box to report (cx, cy, w, h): its size is
        the tracker's corrected by the running average (``box_regression_rate``) of the log
        size corrections, its centre the corrected one (``box_regression_centre``) or the
        tracker's."""
        st, c = self._state, self.config
        cx, cy, w, h = st.regressor.predict(phi, (*st.center, *st.size), crop_center, side,
                                            c.crop, self.stride)
        w, h = self._size_in_image(w, h, width, height)
        cx, cy = _in_image((cx, cy), width, height)
        r, (lw, lh) = c.box_regression_rate, st.size_correction
        lw, lh = lw + r * (math.log(w / st.size[0]) - lw), lh + r * (math.log(h / st.size[1]) - lh)
        st.size_correction = (lw, lh)
        if not c.box_regression_centre:
            cx, cy = st.center
        reported = (cx, cy, *self._size_in_image(st.size[0] * math.exp(lw),
                                                 st.size[1] * math.exp(lh), width, height))
        a = c.box_regression_lr
        if a > 0:
            st.center = (st.center[0] + a * (cx - st.center[0]),
                         st.center[1] + a * (cy - st.center[1]))
            st.size = (st.size[0] * (w / st.size[0]) ** a, st.size[1] * (h / st.size[1]) ** a)
        return reported

    def _pyramid_peaks(self, peaks: torch.Tensor, best: int) -> list[float]:
        """The peaks (before any penalty) of the pyramid the chosen crop belongs to, in the
        order of ``scale_factors`` (python -m rar_tracking.eval.scale_bias reads them)."""
        n = len(self.scale_factors)
        first = best - best % n
        return [float(v) for v in peaks[first:first + n]]

    def _filter_scale(self, image: np.ndarray, center: tuple[float, float]) -> float:
        """The scale filter's answer in the pyramid's place: within the pyramid's range
        (``num_scales // 2`` steps of ``scale_step`` either way); ``_move`` smooths it with
        ``scale_lr`` as it does the pyramid's choice."""
        c = self.config
        limit = c.scale_step ** (c.num_scales // 2)
        factor = self._state.scales.estimate(image, center, self._state.size)
        return min(max(factor, 1.0 / limit), limit)

    def _choice_map(self, image, response: torch.Tensor, center, side: float) -> torch.Tensor:
        """The map (H, W, wrapped like the response) whose maximum is the position.

        With ``colour_weight`` a: ``(1 - a) * g / peak_ref + a * colour``, the colour model's
        answer on the same crop, so that both are about 1 where the target is as well matched
        as on the first frame. With ``response_window``: times the Hann window centred on zero
        displacement, the preference for small motion that the window on the features gives
        when it is a Hann window, without the bias and the lower peak it gives a displaced
        target."""
        st, c = self._state, self.config
        choice = response
        if c.colour_weight > 0:
            colour = st.colour.response(image, center, side, c.crop, response.shape[-1],
                                        self.stride, st.size)
            choice = ((1.0 - c.colour_weight) * response / st.peak_ref
                      + c.colour_weight * torch.from_numpy(colour))
        if c.response_window:
            choice = choice * self.response_prior
        return choice

    def _recentre(self, image, w_hat, center, side: float, dy: float, dx: float,
                  cell_px: float):
        """The second look of ``recentre``: one crop of the chosen scale centred where the
        first search found the target, searched again with the same filter and attention state.

        With the target near the crop border, the cosine window (Eq. 11 is computed on
        windowed features) attenuates its far side more than its near side, which biases the
        peak towards the crop centre, i.e. the old position; the same frame seen from a crop
        centred on the estimate has the target near the centre, where the window is flat, and
        its features, learned as the next template (Eq. 10), need no zero-filled shift. Returns
        the new crop's centre, features (1, C, h, w), attention states, peak, PSR and the
        sub-cell displacement (dy, dx) from its centre; the scale stays the first search's."""
        st = self._state
        new_center = (center[0] + dx * cell_px, center[1] + dy * cell_px)
        phi, new_states = self._features(image, [new_center], [side], self.config.crop,
                                         st.attention)
        with self.timer.section('response (Eq. 11) and copy to host'):
            response = correlation_response(w_hat, phi * self.window).float().cpu()
        with self.timer.section('peak, PSR and scale choice'):
            peaks, idx, psrs = peak_and_psr(response)
            iy, ix = idx[0].tolist()
            dy2, dx2 = subpixel_offset(response[0], iy, ix)
        return new_center, phi, new_states, float(peaks[0]), float(psrs[0]), dy2, dx2

    def _search_plan(self, width: int, height: int, shift: tuple[float, float] | None = None
                     ) -> tuple[list[tuple[float, float]], list[float], list[float]]:
        """Centres, sides and peak penalties of this frame's crops: the scale pyramid around
        the last position (and, with camera_motion, around it moved by the frame's global
        ``shift``: scale index = crop index modulo num_scales), or while LOST a grid of
        normal crops (memory read only)."""
        st, c = self._state, self.config
        side = self._side(st.size)
        if st.status == TrackState.LOST:
            if c.lost_search_growth > 0 or c.redetect_after > 0:
                centers, st.lost_cursor = lost_plan(
                    st.center, side, width, height, st.lost_count, st.lost_cursor,
                    factor=c.lost_search_factor, growth=c.lost_search_growth,
                    redetect_after=c.redetect_after)
            else:
                centers = self._lost_grid(st.center, side, width, height)
            return centers, [side] * len(centers), [1.0] * len(centers)
        centers = [self._search_center(width, height)]
        if shift is not None and math.hypot(*shift) >= c.camera_motion * side:
            # the camera moved: the same pyramid again where the background took the last
            # centre; the higher peak decides (a camera following its target moves the
            # background, not the target)
            x, y = centers[0]
            centers.append(_in_image((x + shift[0], y + shift[1]), width, height))
        n = len(self.scale_factors)
        return ([p for p in centers for _ in range(n)],
                [side * f for f in self.scale_factors] * len(centers),
                [1.0 if f == 1.0 else c.scale_penalty for f in self.scale_factors] * len(centers))

    def _moving_fast(self) -> bool:
        """Whether this frame's search uses ``fast_window`` (``flat_window_speed``): the
        smoothed velocity of the centre is at least that fraction of the search side."""
        st, c = self._state, self.config
        return (c.flat_window_speed > 0 and st.status != TrackState.LOST
                and self._speed() >= c.flat_window_speed)

    def _speed(self) -> float:
        """The smoothed velocity of the centre in search sides per frame."""
        st = self._state
        return math.hypot(st.motion.vx, st.motion.vy) / self._side(st.size)

    def _search_center(self, width: int, height: int) -> tuple[float, float]:
        """Where the next pyramid is centred: the last centre, or with ``motion_prior`` its
        constant-velocity prediction (at most half a search side away; only while the velocity
        reaches ``motion_min_speed`` of the side)."""
        st, c = self._state, self.config
        if not c.motion_prior:
            return st.center
        if c.motion_min_speed > 0 and self._speed() < c.motion_min_speed:
            return st.center
        return st.motion.predict(st.center, width, height, self._side(st.size) / 2.0)

    def _size_in_image(self, w: float, h: float, width: int, height: int
                       ) -> tuple[float, float]:
        """(w, h) with each side kept in [min_size, the image's side]."""
        m = self.config.min_size
        return min(max(w, m), float(width)), min(max(h, m), float(height))

    def _move(self, center: tuple[float, float], scale: float, width: int, height: int) -> None:
        """The target found at ``center`` (kept in the image) with the pyramid's ``scale``
        (smoothed by ``scale_lr``; sides kept in [min_size, image side])."""
        st, c = self._state, self.config
        st.center = _in_image(center, width, height)
        s = 1.0 - c.scale_lr + c.scale_lr * scale
        st.size = self._size_in_image(st.size[0] * s, st.size[1] * s, width, height)
        st.misses, st.status, st.lost_count, st.lost_cursor = 0, TrackState.TRACKING, 0, 0

    def _learn(self, phi: torch.Tensor, dy: float, dx: float,
               new_states: list[AttentionState], memory_shift: tuple[float, float],
               image: np.ndarray) -> None:
        """Add the re-centred template of this frame to the set; advance the attention memory.

        The memory moves with the target: the ConvLSTM's h and c were computed on a crop
        centred on the old position, and the next crop is centred on the new one, so both are
        shifted by the displacement (rounded to each stage's cells) as the template is;
        otherwise the spatial memory would point one frame's motion behind. The size change of
        a frame (at most one pyramid step, 2 %) moves a border cell by under half a cell, so
        the memory is not rescaled. ``memory_shift`` (dy, dx cells) is the next crop's centre
        seen from this one's: the displacement, plus the predicted motion with motion_prior.
        """
        st, c = self._state, self.config
        centred = shift_zero_fill(phi, int(round(dy)), int(round(dx)))
        side = self._side(st.size)
        terms = self._template_terms(centred, self._box_cells(st.size, side),
                                     self._colour_cells(st.colour, image, st.center, side, phi))
        my, mx = memory_shift
        st.templates.first_weight = c.first_template_weight
        st.templates.add(terms, c.learning_rate)
        strides = self.net.trunk.strides
        st.attention = [s.shifted(int(round(my * self.stride / k)),
                                  int(round(mx * self.stride / k)))
                        for s, k in zip(new_states, strides)]


def _in_image(center, width: int, height: int) -> tuple[float, float]:
    """``center`` (x, y) moved to the nearest point of the image."""
    return min(max(center[0], 0.0), float(width)), min(max(center[1], 0.0), float(height))
