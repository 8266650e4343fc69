"""The per-frame RAR network as an ONNX graph, and an ONNX Runtime runner that stands in for it.

What is exported is what ``track`` runs on every frame: trunk, per-stage reduction, attention
with the ConvLSTM, refinement and the energy normalisation of phi^a (``RARNet.forward``), for
whatever trunk and profile the network has. The recurrent state is not baked in: the graph takes
the crops and one ConvLSTM state per stage and returns phi^a and the new states:

    inputs  crops (N, 3, S, S) float RGB [0, 255]; h3, c3 (1, C, H3, W3), hc3 (1, C); h4 ...; hc5
    outputs phi (N, C, H, W); h3_out, c3_out (N, C, H3, W3), hc3_out (N, C); ...; hc5_out

N (the scales, or the 3x3 LOST grid) is a dynamic axis. The state inputs have batch 1: the
tracker runs every crop of a frame from one stored state, which the graph broadcasts. A first
frame has no state; the runner then feeds the values of the attention modules' own
``initial_state``. The file's ``metadata_props`` record what network it holds; the runner refuses
a file that does not match the tracker's configuration and names the mismatching key.

onnx is needed to export, onnxruntime to run; both are imported only here (and only when used).

May import: torch, numpy, :mod:`rar_tracking.config`, :mod:`rar_tracking.errors` and the other
model modules.
"""
from __future__ import annotations

import copy
import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import TrackerConfig
from ..errors import RARError
from .attention import AttentionState
from .backbone import resolve_trunk_name

log = logging.getLogger(__name__)

FORMAT = 'rar_tracking.frame_net/1'
DEFAULT_OPSET = 19  # the first with DeformConv (conv4_1 of the ResNet trunks)
EXPORTERS = ('torchscript', 'dynamo')
LEVELS = (3, 4, 5)
STATE_NAMES = [f'{kind}{level}' for level in LEVELS for kind in ('h', 'c', 'hc')]
INPUT_NAMES = ['crops', *STATE_NAMES]
OUTPUT_NAMES = ['phi', *[f'{name}_out' for name in STATE_NAMES]]
# Keys compared between a file and the tracker, in the order a mismatch is reported.
CHECKED_KEYS = ('format', 'trunk', 'profile', 'crop_size', 'feature_channels',
                'memory_channels', 'weights', 'init_seed', 'parameters_sha256')
# Largest absolute difference between the ONNX Runtime (CPU) and torch outputs that the tests
# accept for phi^a (unit mean energy per position) and the ConvLSTM states (values in (-1, 1)).
TOLERANCE = 1e-4


class OnnxModelError(RARError, ValueError):
    """An ONNX file is missing, unreadable, or not the network the tracker is configured for."""


class OnnxBackendUnavailable(RARError, RuntimeError):
    """backend 'onnxruntime' was asked for but onnxruntime (or onnx, to export) is missing."""


class FrameGraph(nn.Module):
    """``RARNet.forward`` with the states as flat tensors: what is traced into the ONNX file."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, crops, h3, c3, hc3, h4, c4, hc4, h5, c5, hc5):
        n = crops.shape[0]
        flat = (h3, c3, hc3, h4, c4, hc4, h5, c5, hc5)
        states = [AttentionState(flat[i].expand(n, -1, -1, -1), flat[i + 1].expand(n, -1, -1, -1),
                                 flat[i + 2].expand(n, -1)) for i in range(0, 9, 3)]
        phi, new_states, _ = self.net(crops, states)
        return (phi, *[t for s in new_states for t in (s.h, s.c, s.hc)])


# ---------------------------------------------------------------------------- metadata
def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def parameters_sha256(net: nn.Module) -> str:
    """Hash of every parameter and buffer of ``net`` (names, shapes and float32 values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        value = tensor.detach().to('cpu')
        if value.is_floating_point():
            value = value.float()
        digest.update(f'{name}:{tuple(value.shape)}:{value.dtype}'.encode())
        digest.update(value.contiguous().numpy().tobytes())
    return digest.hexdigest()


def expected_metadata(net: nn.Module, config: TrackerConfig) -> dict[str, str]:
    """The metadata an ONNX file of ``net`` built from ``config`` carries (without the opset)."""
    from .weights import resolve_weights
    trunk = resolve_trunk_name(config.trunk, config.trunk_weights)
    weights = resolve_weights(config)
    return {
        'format': FORMAT, 'trunk': trunk, 'profile': config.profile,
        'crop_size': str(config.crop), 'feature_channels': str(config.feature_channels),
        # the ConvLSTM width where the configuration has one apart from feature_channels
        'memory_channels': str(getattr(config, 'memory', config.feature_channels)),
        'weights': f'sha256:{_file_sha256(weights)}' if weights else 'untrained',
        'init_seed': str(config.init_seed), 'parameters_sha256': parameters_sha256(net)}


def metadata_mismatches(found: dict[str, str], expected: dict[str, str]) -> list[str]:
    """'key: file X, tracker Y' for every checked key that differs (init_seed only counts when
    no weights file is used: trained weights fix the heads)."""
    problems = []
    for key in CHECKED_KEYS:
        if key == 'init_seed' and expected['weights'] != 'untrained':
            continue
        if found.get(key) != expected[key]:
            problems.append(f'{key}: file {found.get(key, "(missing)")!r}, '
                            f'tracker {expected[key]!r}')
    return problems


# ---------------------------------------------------------------------------- export
def _initial_state_tensors(net: nn.Module, crops: torch.Tensor) -> list[torch.Tensor]:
    """h, c, hc per stage for a first frame: the attention modules' own initial state, batch 1."""
    with torch.no_grad():
        stages = net.stage_features(crops[:1])
        out = []
        for module, feat in zip(net.attention, stages):
            state = module.initial_state(feat)
            out += [state.h[:1].contiguous(), state.c[:1].contiguous(),
                    state.hc[:1].contiguous()]
    return out


_DEFORM_REGISTERED: set[int] = set()


def register_deform_conv(opset: int) -> None:
    """Map torchvision's deform_conv2d (conv4_1 of the ResNet trunks) to the ONNX DeformConv
    operator (opset 19 and later) for the TorchScript exporter."""
    if opset < 19 or opset in _DEFORM_REGISTERED:
        return
    from torch.onnx import symbolic_helper

    @symbolic_helper.parse_args('v', 'v', 'v', 'v', 'v', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i',
                                'b')
    def deform_conv2d(g, x, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w,
                      dil_h, dil_w, groups, offset_groups, use_mask):
        inputs = [x, weight, offset, bias] + ([mask] if use_mask else [])
        kernel = symbolic_helper._get_tensor_sizes(weight)[2:]
        return g.op('DeformConv', *inputs, dilations_i=[dil_h, dil_w], group_i=groups,
                    kernel_shape_i=kernel, offset_group_i=offset_groups,
                    pads_i=[pad_h, pad_w, pad_h, pad_w], strides_i=[stride_h, stride_w])

    torch.onnx.register_custom_op_symbolic('torchvision::deform_conv2d', deform_conv2d, opset)
    _DEFORM_REGISTERED.add(opset)


def _trace(graph: FrameGraph, args: tuple, path: str, opset: int, exporter: str) -> None:
    with warnings.catch_warnings():
        # the TorchScript exporter warns that it is deprecated and that shape tests are traced
        # as constants (they are: the crop size is fixed per file); neither concerns the user
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        _run_exporter(graph, args, path, opset, exporter)


def _run_exporter(graph: FrameGraph, args: tuple, path: str, opset: int, exporter: str) -> None:
    if exporter == 'torchscript':
        register_deform_conv(opset)
        dynamic = {name: {0: 'batch'} for name in ['crops', *OUTPUT_NAMES]}
        torch.onnx.export(graph, args, path, dynamo=False, opset_version=opset,
                          input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                          dynamic_axes=dynamic)
    else:
        batch = torch.export.Dim('batch', min=1, max=64)
        shapes = ({0: batch},) + (None,) * len(STATE_NAMES)
        torch.onnx.export(graph, args, path, dynamo=True, opset_version=opset,
                          input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                          dynamic_shapes=shapes, verbose=False)


def export_onnx(net: nn.Module, config: TrackerConfig, path: str | os.PathLike,
                opset: int = DEFAULT_OPSET, exporter: str = 'torchscript') -> dict[str, str]:
    """Write the per-frame network ``net`` (built from ``config``) to ``path`` as ONNX.

    ``exporter``: 'torchscript' (``torch.onnx.export(dynamo=False)``; needs only onnx) or
    'dynamo' (the torch.export-based exporter; needs onnxscript too). Returns the metadata
    written into the file. Raises OnnxBackendUnavailable without onnx, OnnxModelError when the
    network does not export (the ResNet trunks' deformable convolution below opset 19).
    """
    if exporter not in EXPORTERS:
        raise ValueError(f'exporter: {exporter!r} is not one of {EXPORTERS}')
    try:
        import onnx
    except ImportError as exc:
        raise OnnxBackendUnavailable(f'exporting to ONNX needs the onnx package '
                                     f'(pip install onnx): {exc}') from None
    metadata = expected_metadata(net, config)
    net = copy.deepcopy(net).to('cpu').float().eval()
    net.half_trunk = False
    side = config.crop
    gen = torch.Generator().manual_seed(0)
    crops = torch.rand(3, 3, side, side, generator=gen) * 255.0  # 3: the traced batch is > 1
    args = (crops, *_initial_state_tensors(net, crops))
    path = os.fspath(path)
    try:
        _trace(FrameGraph(net).eval(), args, path, opset, exporter)
    except Exception as exc:  # the exporters raise many types; name the cause for the user
        hint = ''
        if 'deform_conv2d' in str(exc):
            hint = ('; the deformable convolution of the ResNet trunks (torchvision '
                    'deform_conv2d) needs opset 19 or later (ONNX DeformConv)')
        raise OnnxModelError(f'trunk {metadata["trunk"]} (profile {config.profile}) did not '
                             f'export to ONNX with the {exporter} exporter, opset {opset}: '
                             f'{type(exc).__name__}: {str(exc)[:500]}{hint}') from exc
    model = onnx.load(path)
    metadata['opset'] = str(opset)
    metadata['exporter'] = exporter
    onnx.helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return metadata


# ---------------------------------------------------------------------------- runtime
def import_onnxruntime():
    """The onnxruntime module, or OnnxBackendUnavailable saying how to install it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise OnnxBackendUnavailable(
            f"backend 'onnxruntime' was requested but onnxruntime cannot be imported ({exc}): "
            "pip install onnxruntime (onnxruntime-gpu for CUDA/TensorRT), or use backend "
            "'torch'") from None
    return onnxruntime


_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


def trt_cache_dir() -> str:
    """Where the TensorRT provider keeps its engines (RAR_TRT_CACHE_DIR, else ~/.cache)."""
    return os.environ.get('RAR_TRT_CACHE_DIR') or str(
        Path.home() / '.cache' / 'rar_tracking' / 'trt_engines')


def choose_providers(device: torch.device, available: list[str], crop: int,
                     fp16: bool = True) -> list:
    """ONNX Runtime execution providers for ``device``, best first.

    On a CUDA device: TensorRT (fp16 when ``fp16``, engines cached in :func:`trt_cache_dir`,
    one optimisation profile for batches 1..9) and CUDA, when this onnxruntime build has them;
    without either, the CPU provider with one logged warning. On the CPU: the CPU provider.
    """
    chosen: list = []
    if device.type == 'cuda':
        index = device.index or 0
        if 'TensorrtExecutionProvider' in available:
            shape = f'3x{crop}x{crop}'
            chosen.append(('TensorrtExecutionProvider', {
                'device_id': index, 'trt_fp16_enable': bool(fp16),
                'trt_engine_cache_enable': True, 'trt_engine_cache_path': trt_cache_dir(),
                'trt_profile_min_shapes': f'crops:1x{shape}',
                'trt_profile_opt_shapes': f'crops:3x{shape}',
                'trt_profile_max_shapes': f'crops:9x{shape}'}))
        if 'CUDAExecutionProvider' in available:
            chosen.append(('CUDAExecutionProvider', {'device_id': index}))
        if not chosen:
            _warn_once('no-gpu-provider', (
                f'device {device} but this onnxruntime has no CUDA or TensorRT provider '
                f'(available: {", ".join(available)}): the ONNX graph runs on the CPU; '
                'install onnxruntime-gpu for the GPU'))
    chosen.append('CPUExecutionProvider')
    return chosen


def open_session(path: str, config: TrackerConfig, device: torch.device):
    """An InferenceSession for ``path`` with ``config.cpu_threads`` intra-op threads."""
    ort = import_onnxruntime()
    if not os.path.isfile(path):
        raise OnnxModelError(f'onnx_model: {path} does not exist (python -m rar_tracking.export '
                             '--out FILE writes one; an empty onnx_model exports on the fly)')
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.cpu_threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = choose_providers(device, ort.get_available_providers(), config.crop,
                                 config.half_precision)
    try:
        return ort.InferenceSession(path, options, providers=providers)
    except Exception as exc:  # InvalidProtobuf, Fail, InvalidGraph...: all mean "not loadable"
        raise OnnxModelError(f'onnx_model: {path} is not a loadable ONNX model '
                             f'({type(exc).__name__}: {str(exc)[:300]})') from None


def _shared_row(tensor: torch.Tensor, name: str) -> np.ndarray:
    """The one state row a batch shares (the tracker passes a state expanded over the batch)."""
    if tensor.shape[0] > 1 and tensor.stride(0) != 0 and not bool((tensor == tensor[:1]).all()):
        raise ValueError(f'{name}: the ONNX graph takes one attention state shared by all crops '
                         f'of a batch; got {tensor.shape[0]} different ones')
    return tensor[:1].detach().to('cpu', torch.float32).contiguous().numpy()


class OnnxRunner:
    """Calls an ONNX Runtime session like ``RARNet``: (crops, states) -> (phi, states, maps).

    ``maps`` (the attention maps) are not exported: a list of three empty dicts.
    """

    def __init__(self, session, initial: list[np.ndarray], device: torch.device,
                 path: str, metadata: dict[str, str]):
        self.session = session
        self.initial = initial
        self.device = device
        self.path = path
        self.metadata = metadata
        self.providers = session.get_providers()

    def __call__(self, crops: torch.Tensor, states: list[AttentionState] | None = None):
        feed = {'crops': crops.detach().to('cpu', torch.float32).contiguous().numpy()}
        if states is None:
            feed.update(zip(STATE_NAMES, self.initial))
        else:
            for level, state in zip(LEVELS, states):
                for kind in ('h', 'c', 'hc'):
                    feed[f'{kind}{level}'] = _shared_row(getattr(state, kind), f'{kind}{level}')
        out = [torch.from_numpy(a).to(self.device) for a in self.session.run(OUTPUT_NAMES, feed)]
        new_states = [AttentionState(*out[1 + i:4 + i]) for i in range(0, 9, 3)]
        return out[0], new_states, [{}, {}, {}]


def make_onnx_runner(net: nn.Module, config: TrackerConfig, device: torch.device) -> OnnxRunner:
    """The runner for ``config.onnx_model`` (exported from ``net`` into a temporary file when
    empty), after checking that the file holds this network. Raises OnnxBackendUnavailable
    without onnxruntime, OnnxModelError for a missing, corrupt or mismatching file."""
    import_onnxruntime()
    expected = expected_metadata(net, config)
    with tempfile.TemporaryDirectory(prefix='rar_onnx_') as tmp:
        path = config.onnx_model
        if not path:
            path = os.path.join(tmp, 'frame_net.onnx')
            export_onnx(net, config, path)
        session = open_session(path, config, device)
    found = dict(session.get_modelmeta().custom_metadata_map)
    problems = metadata_mismatches(found, expected)
    if problems:
        raise OnnxModelError(f'onnx_model: {config.onnx_model} was not exported for this '
                             f'tracker configuration ({"; ".join(problems)}); export it again '
                             'with python -m rar_tracking.export and the same options')
    # the first frame's state, as the attention modules make it (shapes from the network itself)
    param = next(net.parameters())
    blank = torch.zeros(1, 3, config.crop, config.crop, device=param.device)
    initial = [t.to('cpu', torch.float32).numpy() for t in _initial_state_tensors(net, blank)]
    return OnnxRunner(session, initial, device, config.onnx_model or '(exported on the fly)',
                      found)
