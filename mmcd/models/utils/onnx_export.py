"""ONNX export and ONNX Runtime execution of change segmentors' networks.

:class:`~mmcd.models.segmentors.FastChangeSegmentor` (the fast CPU
inference path of ``tools/test.py`` and the inferencer),
``tools/deployment/export_onnx.py`` and the benchmark build on these pieces.
"""
import copy
import functools
import logging
import math
import os.path as osp
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from torch import Tensor

from .context_guided_block import ContextGuidedBlock
from .export_attention import MultiheadAttentionForExport

#: ONNX opset of the exported graphs.
ONNX_OPSET = 17

#: The EncoderDecoder methods the fast path runs as mmseg writes them.
MMSEG_INFERENCE_METHODS = ('predict', 'inference', 'slide_inference',
                           'whole_inference', 'encode_decode',
                           'postprocess_result')


class ChangeLogits(nn.Module):
    """Tensor-only view of a change segmentor, for tracing and benchmarks.

    ``forward(inputs)`` with ``inputs`` the preprocessed ``(B, 2C, H, W)``
    pair tensor returns ``decode_head.forward(extract_feat(inputs))``, the
    class logits at the decode head's resolution (input resolution for
    LSNet), optionally resized (bilinear, the head's ``align_corners``) to
    the input size as ``predict_by_feat`` does. Auxiliary heads, the data
    preprocessor and the losses are not part of it.

    Args:
        segmentor (EncoderDecoder): The change segmentor (e.g.
            :class:`SiameseEncoderDecoder`), in eval mode for inference.
        resize_to_input (bool): Resize the logits to the input size.
            Default: False.
    """

    def __init__(self, segmentor: nn.Module, resize_to_input: bool = False):
        super().__init__()
        self.segmentor = segmentor
        self.resize_to_input = resize_to_input

    def forward(self, inputs: Tensor) -> Tensor:
        """Class logits of the pairs in ``inputs``."""
        head = self.segmentor.decode_head
        logits = head.forward(self.segmentor.extract_feat(inputs))
        if self.resize_to_input:
            logits = resize(
                logits,
                size=inputs.shape[2:],
                mode='bilinear',
                align_corners=head.align_corners)
        return logits


class PReLUAsReLUMix(nn.Module):
    """``nn.PReLU`` written as a ReLU mix, for export.

    Computes ``x * a + relu(x * (1 - a))`` when every slope ``a`` is at most
    1, else ``relu(x) * (1 - a) + x * a``; both equal PReLU. ONNX Runtime's
    ``PRelu`` kernel broadcasts a per-channel slope slowly on CPU; the mix
    runs as per-channel scalings, a ReLU and an addition, and in the first
    form ONNX Runtime fuses the ReLU into the scaling before it.

    Args:
        prelu (nn.PReLU): The PReLU whose slopes (one, or one per channel
            of dim 1) are copied.
    """

    def __init__(self, prelu: nn.PReLU):
        super().__init__()
        self.register_buffer('slope', prelu.weight.detach().clone())
        self.relu_of_scaled = bool((self.slope <= 1).all())

    def forward(self, x: Tensor) -> Tensor:
        slope = self.slope
        if slope.numel() > 1:  # one slope per channel (dim 1)
            slope = slope.view(1, -1, *([1] * (x.dim() - 2)))
        if self.relu_of_scaled:  # relu commutes with the scaling by 1 - a
            return x * slope + torch.relu(x * (1 - slope))
        return torch.relu(x) * (1 - slope) + x * slope


def fold_joint_norm(block: ContextGuidedBlock) -> None:
    """Fold a Context Guided Block's ``norm_joint`` (eval-mode BatchNorm
    after the concatenation of the local and surround branches) into the two
    depthwise convolutions, in place; ``norm_joint`` becomes an identity.

    Exact up to rounding. ONNX Runtime folds a BatchNorm only into the
    convolution right before it, so without this the BatchNorm stays a
    separate pass over the block's activations (and a float island in an
    int8 graph).
    """
    norm = block.norm_joint
    scale = norm.running_var.add(norm.eps).rsqrt()
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    start = 0
    for conv in (block.conv_local, block.conv_surround):
        stop = start + conv.out_channels
        conv.weight.data.mul_(scale[start:stop].view(-1, 1, 1, 1))
        bias = shift[start:stop]
        if conv.bias is not None:
            bias = bias + conv.bias.data * scale[start:stop]
        conv.bias = nn.Parameter(bias.detach().clone())
        start = stop
    block.norm_joint = nn.Identity()


def export_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` written for export; ``module`` is unchanged.

    The copy is in eval mode and in the default memory format (whatever
    training left, e.g. ``ChannelsLastHook``, so the traced graph does not
    depend on it), every ``nn.PReLU`` is a :class:`PReLUAsReLUMix`, every
    ``nn.MultiheadAttention`` a :class:`MultiheadAttentionForExport` (sizes
    stay dynamic), and every Siamese segmentor in it runs its backbone once
    per date (``joint_date_pass = False``: the same logits in eval mode, and
    each pass's activations are half as large, so they stay in cache in ONNX
    Runtime). Context Guided Blocks get their joint BatchNorm folded into
    their depthwise convolutions (:func:`fold_joint_norm`).
    """
    module = copy.deepcopy(module).eval().to(
        memory_format=torch.contiguous_format)
    for block in list(module.modules()):
        if (isinstance(block, ContextGuidedBlock)
                and isinstance(block.norm_joint, nn.BatchNorm2d)
                and block.norm_joint.running_var is not None):
            fold_joint_norm(block)
    replaced = {}  # a PReLU used in several places stays one module
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if isinstance(child, (nn.PReLU, nn.MultiheadAttention)):
                if child not in replaced:
                    replaced[child] = (
                        PReLUAsReLUMix(child) if isinstance(child, nn.PReLU)
                        else MultiheadAttentionForExport(child))
                setattr(parent, name, replaced[child])
        if hasattr(parent, 'joint_date_pass'):  # SiameseEncoderDecoder
            parent.joint_date_pass = False
    return module


def export_onnx(module: nn.Module,
                example_inputs: Sequence[Tensor],
                path: str,
                input_names: Sequence[str],
                output_names: Sequence[str],
                opset: int = ONNX_OPSET) -> str:
    """Export :func:`export_copy` of ``module`` to ONNX with dynamic batch,
    height and width.

    Every input and output is taken as ``(N, C, H, W)`` with dimensions 0,
    2 and 3 dynamic. ``module`` itself is neither modified nor switched to
    eval mode.

    Args:
        module (nn.Module): The module (tensors in, tensors out).
        example_inputs (Sequence[Tensor]): Inputs to trace with.
        path (str): The ``.onnx`` file to write.
        input_names (Sequence[str]): Names of the graph inputs.
        output_names (Sequence[str]): Names of the graph outputs.
        opset (int): ONNX opset. Default: :data:`ONNX_OPSET`.

    Returns:
        str: ``path``.
    """
    axes = {0: 'batch', 2: 'height', 3: 'width'}
    with warnings.catch_warnings():
        # the TorchScript exporter's deprecation and tracer warnings
        warnings.simplefilter('ignore')
        torch.onnx.export(
            export_copy(module),
            tuple(example_inputs),
            path,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes={n: axes
                          for n in [*input_names, *output_names]},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False)
    return path


def import_onnxruntime():
    """Import onnxruntime, or say how to install it."""
    try:
        import onnxruntime
    except ImportError as e:
        raise ImportError(
            'the fast inference path and ONNX checks need onnxruntime: '
            '`pip install onnxruntime` (or `pip install -r '
            'requirements/tests.txt`); pass --no-fast to tools/test.py to '
            'test with the eager model instead') from e
    return onnxruntime


class _CalibrationReader:
    """ONNX Runtime's ``CalibrationDataReader`` over a list of arrays."""

    def __init__(self, input_name: str, arrays: Sequence[np.ndarray]):
        self.input_name = input_name
        self.arrays = iter(arrays)

    def get_next(self) -> Optional[dict]:
        array = next(self.arrays, None)
        return None if array is None else {self.input_name: array}


def inline_constant_identities(model) -> int:
    """Replace the ``Identity`` nodes of initializers in an ONNX model by
    copies of the initializers, in place; returns how many.

    The exporter writes one tensor used twice with equal values (e.g. two
    zero biases) as an initializer and an ``Identity``; ONNX Runtime's
    quantiser quantises only biases that are initializers, and a
    convolution with a float bias stays a float convolution.
    """
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    identities = [
        n for n in graph.node if n.op_type == 'Identity' and n.input[0] in
        inits and n.output[0] not in {o.name for o in graph.output}
    ]
    for node in identities:
        tensor = copy.deepcopy(inits[node.input[0]])
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
        graph.node.remove(node)
    return len(identities)


def cpu_has_vnni() -> bool:
    """Whether this CPU has int8 dot-product instructions (AVX-512 VNNI,
    AVX-VNNI or AMX; read from ``/proc/cpuinfo``, False where it cannot be
    read). Without them ONNX Runtime's uint8 x int8 kernels add pairs of
    products in saturating 16-bit sums, so weights must use 7 bits
    (``reduce_range``)."""
    try:
        with open('/proc/cpuinfo') as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {'avx512_vnni', 'avx_vnni', 'amx_int8'})


def quantize_int8(onnx_path: str,
                  out_path: str,
                  calibration_inputs: Sequence[Tensor],
                  calibrate_method: str = 'minmax') -> str:
    """Static int8 quantisation of an exported graph with ONNX Runtime.

    Weights are quantised per output channel (symmetric int8; 7 bits on a
    CPU without VNNI, :func:`cpu_has_vnni`), activations
    per tensor (uint8, ranges from the min/max over the calibration
    inputs), in ONNX Runtime's QDQ format: ``QuantizeLinear`` /
    ``DequantizeLinear`` pairs around every quantisable operation, which
    ONNX Runtime runs as int8 kernels (``QLinearConv`` ...).

    Args:
        onnx_path (str): The fp32 graph (one input).
        out_path (str): The ``.onnx`` file to write.
        calibration_inputs (Sequence[Tensor]): Inputs of the graph, as
            inference feeds them (preprocessed pairs); each is one run.
        calibrate_method (str): How activation ranges are taken from the
            calibration runs: ``'minmax'``, ``'percentile'`` (99.999%) or
            ``'entropy'`` (ONNX Runtime's methods). Default: ``'minmax'``.

    Returns:
        str: ``out_path``.
    """
    import_onnxruntime()
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    if not calibration_inputs:
        raise ValueError('int8 quantisation needs at least one calibration '
                         'input')
    import onnx
    graph = onnx.load(onnx_path)
    input_name = graph.graph.input[0].name
    arrays = [
        np.ascontiguousarray(x.detach().to('cpu', torch.float32).numpy())
        for x in calibration_inputs
    ]
    root_logger = logging.getLogger()  # the quantiser warns per tensor
    level = root_logger.level
    root_logger.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if inline_constant_identities(graph):
                onnx_path = osp.join(tmp, 'inlined.onnx')
                onnx.save(graph, onnx_path)
            quantize_static(
                onnx_path,
                out_path,
                _CalibrationReader(input_name, arrays),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                reduce_range=not cpu_has_vnni(),
                calibrate_method=dict(
                    minmax=CalibrationMethod.MinMax,
                    percentile=CalibrationMethod.Percentile,
                    entropy=CalibrationMethod.Entropy)[calibrate_method])
    finally:
        root_logger.setLevel(level)
    return out_path


class OnnxRuntimeLogits:
    """An ONNX Runtime session called like the module it was exported from.

    A batch runs in chunks of at most ``max_pixels_per_run`` pixels (at
    least one sample per run): the graph is bound by memory traffic, and
    smaller runs keep their activations in cache. Several chunks run side
    by side on ``num_threads`` single-threaded sessions (built on first
    use), one chunk per thread at a time; a single chunk runs on a session
    with ``num_threads`` threads. Single-threaded sessions side by side are
    as fast as one multi-threaded session and, unlike it, do not drop to
    one thread's speed for seconds at a time on small machines. The
    multi-threaded session's threads do not spin between operations (on a
    2-core machine shared with other work, spinning made batch 1 about 2x
    slower, median over alternating runs). Subnormal
    floats are flushed to zero (changes below 1e-38; trained weights make
    many, and they are slow on x86 CPUs) and ONNX Runtime's memory pattern
    is off.

    Args:
        onnx_path (str): The exported graph (one input, one output).
        num_threads (int, optional): Intra-op threads. Default: None,
            meaning ``torch.get_num_threads()`` (what eager PyTorch uses).
        max_pixels_per_run (int): Most pixels (batch x height x width)
            per graph run. Default: 32768.
    """

    def __init__(self,
                 onnx_path: str,
                 num_threads: Optional[int] = None,
                 max_pixels_per_run: int = 2**15):
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry('session.set_denormal_as_zero', '1')
        options.enable_mem_pattern = False
        self.num_threads = options.intra_op_num_threads
        options.add_session_config_entry('session.intra_op.allow_spinning',
                                         '0')
        self.session = ort.InferenceSession(
            onnx_path, options, providers=['CPUExecutionProvider'])
        self.input_name = self.session.get_inputs()[0].name
        self.max_pixels_per_run = max_pixels_per_run
        options.intra_op_num_threads = 1
        with open(onnx_path, 'rb') as f:  # the file may be temporary
            self._single_threaded = functools.partial(
                ort.InferenceSession, f.read(), options,
                providers=['CPUExecutionProvider'])
        self._workers = None  # (thread pool, single-threaded sessions)

    def _run_side_by_side(self, chunks: list) -> list:
        if self._workers is None:
            self._workers = (ThreadPoolExecutor(self.num_threads), [
                self._single_threaded() for _ in range(self.num_threads)
            ])
        pool, sessions = self._workers

        def run_share(k):  # chunks k, k + n, ... on session k
            return [
                sessions[k].run(None, {self.input_name: chunk})[0]
                for chunk in chunks[k::len(sessions)]
            ]

        shares = list(pool.map(run_share, range(len(sessions))))
        return [shares[i % len(shares)][i // len(shares)]
                for i in range(len(chunks))]

    def __call__(self, inputs: Tensor) -> Tensor:
        """Run the graph on a CPU float ``(N, C, H, W)`` tensor."""
        array = inputs.detach().to('cpu', torch.float32).numpy()
        step = max(1, self.max_pixels_per_run // math.prod(array.shape[2:]))
        chunks = [
            np.ascontiguousarray(array[i:i + step])
            for i in range(0, len(array), step)
        ]
        if len(chunks) > 1 and self.num_threads > 1:
            outs = self._run_side_by_side(chunks)
        else:
            outs = [
                self.session.run(None, {self.input_name: chunk})[0]
                for chunk in chunks
            ]
        return torch.from_numpy(
            outs[0] if len(outs) == 1 else np.concatenate(outs))


def fast_path_problem(model: nn.Module,
                      backend: str = 'onnxruntime') -> Optional[str]:
    """Why ``model`` cannot take the fast path, or None when it can.

    The fast path needs its backend (``'onnxruntime'`` or ``'openvino'``)
    installed, an :class:`EncoderDecoder` on CPU whose inference methods
    (:data:`MMSEG_INFERENCE_METHODS`) and decode head ``predict`` are
    mmseg's.
    """
    if not isinstance(model, EncoderDecoder):
        return f'{type(model).__name__} is not an EncoderDecoder'
    for name in MMSEG_INFERENCE_METHODS:
        if getattr(type(model), name) is not getattr(EncoderDecoder, name):
            return f'{type(model).__name__} overrides {name}'
    if type(model.decode_head).predict is not BaseDecodeHead.predict:
        return f'{type(model.decode_head).__name__} overrides predict'
    device = next(model.parameters()).device
    if device.type != 'cpu':
        return f'the model is on {device} (the fast path is for CPUs)'
    try:
        if backend == 'openvino':
            from .openvino_runtime import import_openvino
            import_openvino()
        else:
            import_onnxruntime()
    except ImportError as e:
        return str(e)
    return None


def pair_channels(model: nn.Module) -> int:
    """Channels of the model's ``(B, 2C, H, W)`` input (both dates).

    Read from the data preprocessor's mean (one value per channel), else
    from the backbone's ``in_channels`` (twice them for a Siamese
    segmentor, whose backbone sees one date; as they are for an early-fusion
    ``EncoderDecoder``), else 6 (two RGB images).
    """
    if is_model_wrapper(model):
        model = model.module
    mean = getattr(getattr(model, 'data_preprocessor', None), 'mean', None)
    if mean is not None:
        return int(mean.numel())
    in_channels = getattr(getattr(model, 'backbone', None), 'in_channels',
                          None)
    if in_channels is None:
        return 6
    return int(in_channels) * (2 if hasattr(model, 'split_dates') else 1)
