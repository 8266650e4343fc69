"""One configuration object for the whole tracker.

Every tunable lives here once, with its default, unit, range and whether it may change
while tracking. The ROS node declares one parameter per field (from this metadata),
``config/rar_tracker.yaml`` lists the same keys, and the evaluation and training CLIs
build a :class:`TrackerConfig` from their options. A default therefore exists in one place.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def _param(default, help: str, *, lo=None, hi=None, dynamic: bool = False,
           choices: tuple | None = None, unit: str = ''):
    """A dataclass field with the metadata the ROS layer turns into a descriptor."""
    return field(default=default, metadata={
        'help': help, 'range': (lo, hi) if lo is not None else None,
        'dynamic': dynamic, 'choices': choices, 'unit': unit})


TRUNKS = ('auto', 'resnet50', 'resnet18', 'efficientnet_lite0')
PROFILES = ('balanced', 'fast', 'full', 'auto')
BACKENDS = ('torch', 'onnxruntime', 'auto')
ABLATIONS = ('memory', 'attention', 'refinement')
FUSIONS = ('sum', 'concat')


def onnxruntime_installed() -> bool:
    """Whether backend 'auto' can use ONNX Runtime: onnxruntime to run and onnx to export
    (found without importing either)."""
    import importlib.util
    return all(importlib.util.find_spec(m) is not None for m in ('onnxruntime', 'onnx'))


# What each profile sets when the corresponding field is left at 0 (see TrackerConfig.profile);
# a memory width of 0 there means feature_channels. The measurements behind these choices are
# in docs/evaluation.md ("Profiles").
PROFILE_CROP_SIZE = {'full': 225, 'balanced': 225, 'fast': 193}
PROFILE_MEMORY_CHANNELS = {'full': 0, 'balanced': 32, 'fast': 32}
# Profiles whose trunk keeps its ImageNet strides (8/16/32) instead of the paper's dilation.
NATIVE_STRIDE_PROFILES = ('balanced', 'fast')

# Mechanisms built for issue 14 (and their own settings) that were measured on the two judged
# sets and not kept: off by default, tested, and marked "experimental" wherever parameters
# are listed (ROS descriptors, config/rar_tracker.yaml, docs/node.md). Why each stays off:
# docs/evaluation.md, "What is kept of these mechanisms".
EXPERIMENTAL = frozenset({
    'scale_filter', 'scale_filter_lr', 'hog_weight', 'min_search_px', 'recentre',
    'window_taper', 'flat_window_speed', 'crowd_ratio', 'window_agreement', 'response_window',
    'colour_weight', 'colour_mask', 'colour_bins', 'colour_lr', 'motion_gate', 'camera_motion',
    'peak_candidates', 'motion_sigma', 'box_regression', 'box_regression_lambda',
    'box_regression_lr', 'box_regression_rate', 'box_regression_centre', 'stage_fusion',
})


@dataclass
class TrackerConfig:
    """Every tunable of :class:`rar_tracking.tracker.RARTracker`.

    Fields marked ``dynamic`` may change while a target is tracked
    (``RARTracker.update_config``); the others need a new tracker.
    """

    # --- Device and network (fixed once the tracker is built) -----------------------
    device: str = _param('auto', "'auto' (CUDA when available, else CPU), 'cpu', 'cuda' or 'cuda:N'")
    trunk: str = _param(
        'auto', "backbone trunk: 'resnet50' (the paper), 'resnet18' (light), "
        "'efficientnet_lite0' (offline ImageNet weights), or 'auto' (resnet50 when its ImageNet "
        "weights are found, else efficientnet_lite0)", choices=TRUNKS)
    trunk_weights: str = _param(
        '', 'ImageNet weights file of a ResNet trunk; empty: the torch hub cache when present')
    weights: str = _param(
        '', "trained RAR weights: a .safetensors or .pt file; 'auto': the file shipped in the "
        'package for this trunk and profile (untrained heads, with a warning, where none ships '
        "or its geometry differs from this configuration); '' or 'none': untrained heads")
    allow_random_trunk: bool = _param(
        False, 'allow a trunk without ImageNet weights (random features; for tests only)')
    init_seed: int = _param(
        0, 'seed of the random initial values of what no weights file sets (untrained heads, a '
        'random trunk): the same seed gives the same tracker in every process', lo=0,
        hi=2 ** 31 - 1)
    cpu_threads: int = _param(
        1, 'torch CPU threads (intra-op). 1 is fastest on small, shared CPUs', lo=1, hi=64)
    half_precision: bool = _param(True, 'fp16 autocast for the trunk on CUDA')
    cuda_graphs: bool = _param(
        True, 'on CUDA with the torch backend, replay the per-frame network from CUDA graphs '
        '(one launch per frame instead of hundreds: track() 1.6-2.2x and initialize() 3x '
        'faster on an H200, docs/backends.md); ignored on a CPU')
    profile: str = _param(
        'balanced', "network layout: 'balanced' (trunk stages at their native strides 8/16/32, "
        "merged coarse to fine by the refinement with upsampling, crop 225, ConvLSTM memory "
        "32 wide: the accuracy of 'full' at a fraction of its cost), 'fast' (the same at crop "
        "193, for a CPU), 'full' (the paper's: every stage dilated to stride 8, crop 225, "
        "memory as wide as the features), or 'auto' (full on CUDA; on a CPU balanced when the "
        "backend is onnxruntime, else fast); measured trade-offs in docs/evaluation.md",
        choices=PROFILES)
    backend: str = _param(
        'torch', "what runs the per-frame network: 'torch', 'onnxruntime' (an exported ONNX "
        "file, see python -m rar_tracking.export), or 'auto' (onnxruntime on a CPU when it and "
        "onnx are installed, else torch)", choices=BACKENDS)
    onnx_model: str = _param(
        '', "ONNX file of the per-frame network for backend 'onnxruntime' (made by "
        'python -m rar_tracking.export); empty: exported on the fly into a temporary file')
    feature_channels: int = _param(
        128, 'channels after the 1x1 reduction of each stage (attention and filter width)',
        lo=8, hi=512)
    memory_channels: int = _param(
        0, "width of each stage's ConvLSTM memory (h, c); 0: the profile's (full: "
        'feature_channels; balanced and fast: 32, a fraction of the attention\'s cost)', lo=0,
        hi=512)
    crop_size: int = _param(
        0, "side of the square crop fed to the network; 0: the profile's (full and balanced "
        "225, the paper's; fast 193)", unit='px', lo=0, hi=512)

    ablate: str = _param(
        '', "parts switched off for ablation studies, comma-separated: 'memory' (the ConvLSTM "
        "state is not carried: a fresh state every frame), 'attention' (no attention at all: "
        "the reinforced feature is the feature, Eq. 7 skipped), 'refinement' (the stages are "
        'summed after upsampling instead of merged by the learnt refinement). Empty: the whole '
        'RAR network. Torch backend only')

    stage_fusion: str = _param(
        'sum', "how the three stages' attentional features become phi^a: 'sum' (the refinement "
        "of Fig. 6, merged coarse to fine into C channels; the paper) or 'concat' (the stages "
        'upsampled and stacked into 3C channels without the refinement, so the filter of Eq. '
        '10 weighs each stage on its own and no product of one stage with another enters the '
        'response, as in multi-layer correlation filters; untrained refinement only). Torch '
        'backend only', choices=FUSIONS)

    # --- Search area and scale (Section 4.1) -----------------------------------------
    search_area_factor: float = _param(
        3.0, 'side of the crop relative to the geometric mean of the target size '
        '(the paper pads the target by 2x; see the README, choices)', lo=1.5, hi=8.0, dynamic=True)
    num_scales: int = _param(3, 'scales of the proposal pyramid', lo=1, hi=7)
    scale_step: float = _param(1.02, 'ratio between neighbouring pyramid scales', lo=1.0,
                               hi=1.2, dynamic=True)
    scale_penalty: float = _param(
        0.995, 'factor on the peak of scales other than 1 (prefers no change)', lo=0.8, hi=1.0,
        dynamic=True)
    scale_lr: float = _param(0.6, 'smoothing of the size update (1: take the new scale at once)',
                             lo=0.0, hi=1.0, dynamic=True)
    min_size: float = _param(4.0, 'smallest box side the tracker reports', unit='px', lo=1.0,
                             hi=1e4)
    scale_filter: int = _param(
        0, 'samples of a one-dimensional scale filter (DSST, rar_tracking/scale_filter.py), at '
        "steps of scale_step, whose answer takes the pyramid's choice's place after the "
        "position is found (within the pyramid's range, num_scales // 2 steps, and smoothed by "
        "scale_lr); the network then runs on one crop per frame. 0: the paper's pyramid. Odd",
        lo=0, hi=65)
    scale_filter_lr: float = _param(
        0.025, "learning rate of the scale filter (DSST's value)", lo=0.0, hi=1.0, dynamic=True)

    # --- Contextual attentional correlation filter (Section 3.3) ---------------------
    lambda1: float = _param(1e-4, 'ridge regularisation lambda1 of Eq. 8-10', lo=0.0, hi=10.0,
                            dynamic=True)
    lambda2: float = _param(0.1, 'weight lambda2 of the context patches in Eq. 8-10', lo=0.0,
                            hi=10.0, dynamic=True)
    num_context: int = _param(4, 'k context patches around the target (0 disables)', lo=0, hi=8)
    context_offset: float = _param(
        1.0, 'distance of the context patches from the target, in target sizes', lo=0.25,
        hi=3.0)
    template_window: float = _param(
        2.0, 'side of the Hann window on the target patch z0, in target sizes: the filter '
        'learns the target and its near surroundings, not the static background (0: only the '
        "crop's cosine window, as in plain CF trackers)", lo=0.0, hi=8.0)
    label_sigma: float = _param(
        0.15, 'std of the Gaussian label y relative to the target size (chosen on the '
        'validation split, docs/evaluation.md; the shipped balanced heads were trained with it, '
        'the fast ones with 0.1)',
        lo=0.01, hi=1.0)
    hog_weight: float = _param(
        0.0, 'append HOG (31 gradient-orientation features per cell, rar_tracking/hog.py) '
        "computed on each crop on the network's cell grid to the features the filter learns "
        'from, scaled so that their energy on the first frame is this multiple of the deep '
        "features' (position and size then also answer to every pixel of shift and per cent of "
        'scale, as in ECO; 0: deep features only, the paper)', lo=0.0, hi=100.0)
    learning_rate: float = _param(
        0.012, 'online filter learning rate: the weight beta_t of the newest template',
        lo=0.0, hi=1.0, dynamic=True)
    num_templates: int = _param(
        8, 'templates kept in the set; older ones are folded into one (lossless for Eq. 10)',
        lo=1, hi=64)
    first_template_weight: float = _param(
        0.25, 'floor on the share beta of the first (user-given) template', lo=0.0, hi=1.0,
        dynamic=True)

    # --- Confidence, lost and recover (tracker.py) -----------------------------------
    confidence_threshold: float = _param(
        0.23, 'update the filter only on frames whose confidence is at least this', lo=0.0,
        hi=1.0, dynamic=True)
    lost_threshold: float = _param(
        0.11, 'confidence below which a frame counts as a miss', lo=0.0, hi=1.0, dynamic=True)
    lost_frames: int = _param(3, 'consecutive misses before the state becomes LOST', lo=1,
                              hi=1000, dynamic=True)
    recover_threshold: float = _param(
        0.19, 'confidence at or above which a LOST target is found again', lo=0.0, hi=1.0,
        dynamic=True)
    lost_search_factor: float = _param(
        2.0, 'side of the search while LOST, in normal search sides (a 3x3 grid of crops)',
        lo=1.0, hi=4.0, dynamic=True)

    # --- Small and fast targets, losses (issue 14; search.py, motion.py) ------------
    # Defaults, and why each is kept or left off: docs/evaluation.md, "Issue 14".
    min_search_px: float = _param(
        0.0, 'smallest side of the search square in image pixels (0: none); a 9 px target at '
        'search_area_factor 3 gets a 27 px window, which a third of its motion per frame '
        'leaves', unit='px', lo=0.0, hi=4096.0)
    recentre: float = _param(
        0.0, 'search the frame again from a crop centred where the target was found when it '
        'was found farther than this fraction of the search side from the crop centre (0: '
        'never); the cosine window weighs a target near the crop border unevenly and pulls '
        'the peak back towards the old position, so a fast target is found short and its '
        'template learned off-centre', lo=0.0, hi=0.5, dynamic=True)
    window_taper: float = _param(
        1.0, 'fraction of each axis of the search features over which the window falls to '
        'zero at the borders: 1 is the Hann window, less a Tukey window flat in the middle; '
        "the Hann window weighs a target a quarter of the crop away at about 0.5, which lowers "
        'its peak (and the confidence) and pulls it back towards the old position',
        lo=0.0, hi=1.0)
    flat_window_speed: float = _param(
        0.0, 'apply window_taper only to the search and only while the smoothed velocity of '
        'the centre is at least this fraction of the search side per frame (0: always, to '
        'every window); a slow target keeps the Hann window that holds look-alikes off, a fast '
        'one gets the flat window that does not halve it near the border', lo=0.0, hi=0.5)
    crowd_ratio: float = _param(
        0.0, 'with window_taper, give the search features the Hann window instead while the '
        "last response's highest local maximum outside the target (farther than half its "
        'size from the peak) reached this fraction of the peak: a look-alike in the crop gets '
        "the Hann window's preference for small motion, a lone target the flat window (0: off)",
        lo=0.0, hi=1.0)
    window_agreement: bool = _param(
        False, 'with window_taper, compute the response with the Hann window on the search '
        "features too and take the flat window's position only where the two peaks lie within "
        "half the target's size of each other; where they disagree, the Hann window's (its "
        'preference for small motion holds a look-alike off); one more correlation per frame, '
        'no network pass', dynamic=True)
    response_window: bool = _param(
        False, 'choose the position on the response times a Hann window centred on zero '
        'displacement: the preference for small motion that a Hann window on the features '
        'gives, kept when window_taper flattens that window (which removes the bias and the '
        'lower peak it gives a displaced target)', dynamic=True)
    colour_weight: float = _param(
        0.0, 'weight a of a colour model in the choice of position: (1 - a) times the '
        'response over its first-frame peak plus a times the mean likelihood, over a '
        "target-sized box, that a pixel's colour is the target's (0: off); a colour histogram "
        'ignores the layout the filter needs, so it holds a deforming target (Staple\'s idea)',
        lo=0.0, hi=1.0, dynamic=True)
    colour_mask: bool = _param(
        False, "weight the target patch z0 of Eq. 10 also by the colour model's likelihood, per "
        "feature cell, that the template crop's pixels are the target's (normalised to mean 1 "
        "under the target window): the filter learns the target's own pixels more than the "
        "ground it stands on (CSRT's spatial reliability map, in the closed form); the "
        'histograms learn with colour_lr')
    colour_bins: int = _param(
        32, 'colour model bins per RGB channel', choices=(8, 16, 32, 64))
    colour_lr: float = _param(
        0.04, 'weight of a new frame in the colour histograms (frames the filter learns from)',
        lo=0.0, hi=1.0, dynamic=True)
    motion_prior: bool = _param(
        True, 'centre the search on a constant-velocity prediction of the centre (image '
        'pixels, reset by initialize; the crop moves only above motion_min_speed) and, with '
        'peak_candidates > 1, choose between the top peaks with a Gaussian prior around it: a '
        'fast target stays inside its window, and the window centred on the prediction holds '
        'a crossing look-alike off')
    motion_lr: float = _param(
        1.0, 'weight of the newest displacement in the smoothed velocity of the motion prior '
        '(1: the last displacement; motion_min_speed already keeps the jitter of a slow '
        "target's estimate off the crop, and smoothing would hold a fast target's crop back "
        'for the frames in which it is lost)', lo=0.0, hi=1.0)
    motion_sigma: float = _param(
        1.0, "std of the motion prior's Gaussian on a peak's distance from the prediction, in "
        'target sizes (a target seldom changes its velocity by its own size in one frame)',
        lo=0.1, hi=100.0)
    motion_gate: float = _param(
        0.0, 'with motion_prior, move the search centre only while the smoothed velocity is '
        'at least this many standard deviations of its own frame-to-frame noise (0: always); '
        'a slow target whose estimate jitters keeps its crop where it is', lo=0.0, hi=100.0)
    motion_min_speed: float = _param(
        0.1, 'with motion_prior, move the search centre only while the smoothed velocity is at '
        'least this fraction of the search side per frame (0: always); below a tenth of the '
        "side the crop's cosine window still weighs the target's centre at 0.9 or more, so a "
        'still crop loses nothing and a wrong prediction cannot move it', lo=0.0, hi=0.5)
    camera_motion: float = _param(
        0.0, "when the whole frame moved (the camera panned: phase correlation of the "
        'downscaled frames, rar_tracking/egomotion.py) by at least this fraction of the search '
        'side since the last frame, search the pyramid also around the last centre moved with '
        "it; the higher of the two searches' peaks wins (0: off). 0.1: below it the crop's "
        "cosine window still weighs the target's centre at 0.9 or more", lo=0.0, hi=1.0)
    peak_candidates: int = _param(
        1, 'local maxima of the response the motion prior chooses from (1: the highest, no '
        "choice: the crop's cosine window, centred on the prediction, already prefers peaks near "
        'it, and the choice flipped knife-edge sequences both ways; docs/evaluation.md)',
        lo=1, hi=32)
    lost_search_growth: float = _param(
        0.0, 'while LOST, the half-width of the searched region grows by this many search '
        'sides per frame (0: fixed at lost_search_factor); crops per frame stay 9', lo=0.0,
        hi=4.0)
    redetect_after: int = _param(
        0, 'LOST frames after which the search covers the whole image, 9 crops of the normal '
        'side per frame in turn (0: never)', lo=0, hi=100000)
    box_regression: bool = _param(
        False, "correct the tracked box's centre, width and height by a ridge regression on "
        "the crop's features learned on the first frame from boxes drawn around the given one "
        '(MDNet\'s; rar_tracking/box_regression.py): the aspect ratio can follow the target, '
        'which the pyramid cannot')
    box_regression_lambda: float = _param(
        30.0, "box_regression's ridge constant, relative to the mean squared norm of the boxes' "
        'descriptions', lo=1e-6, hi=1e6)
    box_regression_lr: float = _param(
        0.0, "share of box_regression's correction taken into the tracker's own box (where "
        'the next frame is searched, at what size); 0: the reported box only, as MDNet, so '
        'that a wrong correction is never fed back', lo=0.0, hi=1.0, dynamic=True)
    box_regression_rate: float = _param(
        1.0, "weight of a frame's size correction (box_regression) in the running average that "
        "corrects the reported width and height (1: the frame's own): a size error lasts for "
        "frames while the regression's own error does not", lo=0.01, hi=1.0, dynamic=True)
    box_regression_centre: bool = _param(
        True, "box_regression also corrects the reported centre (each frame's own correction)",
        dynamic=True)

    def replace(self, **changes: Any) -> 'TrackerConfig':
        """A copy with some fields changed (validated)."""
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> None:
        """Raise ValueError naming the first field out of its range or choices."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            meta = f.metadata
            if not isinstance(value, type(f.default)) and not (
                    isinstance(f.default, float) and isinstance(value, int)
                    and not isinstance(value, bool)):
                raise ValueError(f'{f.name}: expected {type(f.default).__name__}, got {value!r}')
            if meta.get('choices') and value not in meta['choices']:
                raise ValueError(f'{f.name}: {value!r} is not one of {meta["choices"]}')
            rng = meta.get('range')
            if rng is not None and not (rng[0] <= value <= rng[1]):
                raise ValueError(f'{f.name}: {value!r} is outside [{rng[0]}, {rng[1]}]')
        if 0 < self.crop_size < 64:
            raise ValueError(f'crop_size: {self.crop_size} is below 64 (0 picks the profile\'s)')
        if not self.lost_threshold <= self.recover_threshold <= self.confidence_threshold:
            raise ValueError(
                'thresholds must keep lost_threshold <= recover_threshold <= '
                f'confidence_threshold (a frame good enough to recover on is not a miss, and one '
                f'good enough to learn from recovers), got {self.lost_threshold} / '
                f'{self.recover_threshold} / {self.confidence_threshold}')
        unknown = sorted(set(self.ablated) - set(ABLATIONS))
        if unknown:
            raise ValueError(f'ablate: {unknown} not among {ABLATIONS}')
        if self.stage_fusion != 'sum' and self.backend == 'onnxruntime':
            raise ValueError("stage_fusion: 'concat' runs on the torch backend only")
        if self.stage_fusion != 'sum' and self.weights not in ('', 'none'):
            raise ValueError("stage_fusion: 'concat' leaves out the refinement that trained "
                             "weights carry; use it with untrained heads (weights '')")
        if self.ablated and self.backend == 'onnxruntime':
            raise ValueError('ablate: ablation studies run on the torch backend only')
        if self.num_scales % 2 != 1:
            raise ValueError(f'num_scales: must be odd, got {self.num_scales}')
        if self.scale_filter and (self.scale_filter < 3 or self.scale_filter % 2 != 1):
            raise ValueError(f'scale_filter: 0 (off) or an odd number >= 3, got {self.scale_filter}')

    def resolved(self, device_type: str | None = None) -> 'TrackerConfig':
        """This configuration with backend and profile 'auto' made concrete, for a network
        on ``device_type`` ('cuda' or 'cpu'; by default what device 'auto' would pick):

        - backend 'auto': 'onnxruntime' on a CPU when onnxruntime and onnx are installed (and
          no ablation asks for torch), else 'torch' (CUDA keeps torch: its fp16 trunk is the
          path that exists there; the ONNX Runtime GPU providers have not run);
        - profile 'auto': 'full' on CUDA; on a CPU 'balanced' with onnxruntime (78 ms per frame
          here, as fast as 'fast' on torch and more accurate), else 'fast' (docs/evaluation.md).
        Other values are returned unchanged."""
        if self.profile != 'auto' and self.backend != 'auto':
            return self
        if device_type is None:
            import torch
            device_type = 'cuda' if torch.cuda.is_available() and self.device != 'cpu' else 'cpu'
        backend = self.backend
        if backend == 'auto':
            backend = ('onnxruntime' if device_type == 'cpu' and not self.ablated
                       and self.stage_fusion == 'sum'
                       and onnxruntime_installed() else 'torch')
        profile = self.profile
        if profile == 'auto':
            profile = ('full' if device_type == 'cuda'
                       else 'balanced' if backend == 'onnxruntime' else 'fast')
        return self.replace(profile=profile, backend=backend)

    @property
    def ablated(self) -> frozenset[str]:
        """The parts ``ablate`` switches off."""
        return frozenset(p.strip() for p in self.ablate.split(',') if p.strip())

    @property
    def crop(self) -> int:
        """The crop side in use: ``crop_size``, or the profile's when it is 0."""
        return self.crop_size or PROFILE_CROP_SIZE[self.resolved().profile]

    @property
    def memory(self) -> int:
        """The ConvLSTM width in use: ``memory_channels``, or the profile's when it is 0."""
        return (self.memory_channels or PROFILE_MEMORY_CHANNELS[self.resolved().profile]
                or self.feature_channels)

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def field_info(cls) -> dict[str, dict]:
        """Name -> {default, type, help, range, dynamic, choices, unit, experimental} for every
        field."""
        return {f.name: dict(f.metadata, default=f.default, type=type(f.default),
                             experimental=f.name in EXPERIMENTAL)
                for f in dataclasses.fields(cls)}

    @classmethod
    def dynamic_fields(cls) -> frozenset[str]:
        return frozenset(n for n, i in cls.field_info().items() if i['dynamic'])

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
