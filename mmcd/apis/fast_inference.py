"""Fast CPU inference of change segmentors through ONNX Runtime.

The eager LSNet spends much of its CPU time outside the convolutions
(concatenations, BatchNorm, PReLU, attention products) and is bound by memory
traffic; ONNX Runtime folds BatchNorm into the convolutions and fuses
element-wise work, PReLU is exported as a ReLU mix (:func:`prelu_as_relu_mix`),
each date runs its own backbone pass (:func:`date_passes_apart`), batches run
in cache-sized chunks side by side (:class:`OnnxRuntimeLogits`) and subnormal
floats are flushed to zero. Measured with ``tools/analysis_tools/benchmark.py``
on 2 CPU cores, LSNet diffFPN at 256x256 with trained weights: batch 1
1.2-1.5x (about 230 -> 155-190 ms), batch 8 4.4-5.0x. torch.compile (freezing,
channels-last) was slower than ONNX Runtime at batch 1 and compiles for 40-80 s
per input shape; OpenVINO was slower too.

:func:`prepare_fast_model` swaps a segmentor's ``encode_decode`` for an ONNX
Runtime session of ``decode_head.forward(extract_feat(inputs))``, exported
from the model's current weights with dynamic batch and size; everything
around it (data preprocessing, whole/slide inference, ``predict_by_feat``,
post-processing) stays mmseg's. ``tools/test.py`` uses it through
:class:`FastInferenceHook` unless ``--no-fast`` is given.
"""
import contextlib
import functools
import math
import os.path as osp
import tempfile
import types
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from torch import Tensor

from mmcd.models.segmentors import SiameseEncoderDecoder
from mmcd.registry import HOOKS

#: ONNX opset of the exported graphs.
ONNX_OPSET = 17


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


def _relu_mix_forward(self: nn.PReLU, x: Tensor) -> Tensor:
    slope = self.weight
    if slope.numel() > 1:  # one slope per channel (dim 1)
        slope = slope.view(1, -1, *([1] * (x.dim() - 2)))
    if bool((self.weight <= 1).all()):  # relu commutes with the scaling
        return x * slope + torch.relu(x * (1 - slope))
    return torch.relu(x) * (1 - slope) + x * slope


@contextlib.contextmanager
def date_passes_apart(module: nn.Module):
    """Trace every :class:`SiameseEncoderDecoder` in ``module`` with one
    backbone pass per date (:attr:`~SiameseEncoderDecoder.joint_date_pass`
    False): the same logits in eval mode, and in ONNX Runtime each pass's
    activations are half as large and stay in cache: LSNet ran about 10%
    faster at batch 1 (198 -> 179 ms, the two graphs side by side)."""
    before = {
        m: vars(m).get('joint_date_pass')
        for m in module.modules() if isinstance(m, SiameseEncoderDecoder)
    }
    for m in before:
        m.joint_date_pass = False
    try:
        yield
    finally:
        for m, value in before.items():
            if value is None:
                del m.joint_date_pass  # back to the class default
            else:
                m.joint_date_pass = value


@contextlib.contextmanager
def prelu_as_relu_mix():
    """Trace ``nn.PReLU`` as ``x * a + relu(x * (1 - a))`` when every
    slope ``a`` is at most 1, else as ``relu(x) * (1 - a) + x * a`` (both
    equal to PReLU).

    ONNX Runtime's ``PRelu`` kernel broadcasts a per-channel slope slowly on
    CPU (a third of LSNet's time at 256x256); the mix runs as per-channel
    scalings (1x1 depthwise convolutions in ONNX Runtime), a ReLU and an
    addition. LSNet's graph ran about 1.3x faster at batch 1 (247 -> 189
    ms, the two graphs side by side); the first form, where ONNX Runtime
    fuses the ReLU into the scaling before it, 5% faster again (184 -> 174
    ms, trained slopes 0.13-0.34).
    """
    original = nn.PReLU.forward
    nn.PReLU.forward = _relu_mix_forward
    try:
        yield
    finally:
        nn.PReLU.forward = original


def export_onnx(module: nn.Module,
                example_inputs: Sequence[Tensor],
                path: str,
                input_names: Sequence[str],
                output_names: Sequence[str],
                opset: int = ONNX_OPSET) -> str:
    """Export ``module`` to ONNX with dynamic batch, height and width.

    Every input and output is taken as ``(N, C, H, W)`` with dimensions 0,
    2 and 3 dynamic. The module is traced in eval mode and every submodule
    is left in the mode it was in. PReLU goes into the graph as
    :func:`prelu_as_relu_mix` writes it, and Siamese segmentors run their
    backbone once per date (:func:`date_passes_apart`).

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
    dynamic_axes = {name: axes for name in [*input_names, *output_names]}
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with warnings.catch_warnings(), prelu_as_relu_mix(), \
                date_passes_apart(module):
            # the TorchScript exporter's deprecation and tracer warnings
            warnings.simplefilter('ignore')
            torch.onnx.export(
                module,
                tuple(example_inputs),
                path,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False)
    finally:
        for m, training in modes:  # each module as it was
            m.training = training
    return path


class OnnxRuntimeLogits:
    """An ONNX Runtime session called like the module it was exported from.

    A batch runs in chunks of at most ``max_pixels_per_run`` pixels (at
    least one sample per run): the graph is bound by memory traffic, and
    smaller runs keep their activations in cache. LSNet, batch 8, 2 cores,
    batched vs one run per pair vs chunks of 2: 256x256 2258 / 1520 / 1785
    ms, 128x128 440 / 342 / 339 ms, 64x64 88 / 118 / 97 ms.

    Several chunks run side by side on ``num_threads`` single-threaded
    sessions (built on first use), one chunk per thread at a time; one
    chunk runs on a session with ``num_threads`` threads. The two run
    equally fast, but on the 2-core test machine a multi-threaded session
    drops to the speed of one thread (LSNet 165 -> 340 ms at batch 1) for
    seconds at a time, in 1 to 3 of 6 processes, while single-threaded
    sessions running side by side keep their speed.

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
        # subnormal floats are flushed to zero (changes below 1e-38): trained
        # LSNet weights make many, and they are slow on x86 CPUs
        options.add_session_config_entry('session.set_denormal_as_zero', '1')
        # ORT's memory pattern (one planned block for all activations) off:
        # no faster, and it seemed to make the half-speed state below more
        # frequent (4 of 19 processes at batch 1 with it, 0 of 18 without;
        # later runs show that state without it too)
        options.enable_mem_pattern = False
        self.num_threads = options.intra_op_num_threads
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


def _fast_encode_decode(self, inputs: Tensor, batch_img_metas):
    """``EncoderDecoder.encode_decode`` with the ONNX Runtime session."""
    return self.decode_head.predict_by_feat(
        self.fast_logits(inputs), batch_img_metas)


def fast_path_problem(model: nn.Module) -> Optional[str]:
    """Why ``model`` cannot take the fast path, or None when it can."""
    if not isinstance(model, EncoderDecoder):
        return f'{type(model).__name__} is not an EncoderDecoder'
    if type(model).encode_decode is not EncoderDecoder.encode_decode:
        return f'{type(model).__name__} overrides encode_decode'
    if type(model.decode_head).predict is not BaseDecodeHead.predict:
        return f'{type(model.decode_head).__name__} overrides predict'
    device = next(model.parameters()).device
    if device.type != 'cpu':
        return f'the model is on {device} (the fast path is for CPUs)'
    return None


def pair_channels(model: nn.Module) -> int:
    """Channels of the model's ``(B, 2C, H, W)`` input (both dates).

    Read from the data preprocessor's mean (one value per channel), else
    twice the backbone's ``in_channels``, else 6 (two RGB images).
    """
    if is_model_wrapper(model):
        model = model.module
    mean = getattr(getattr(model, 'data_preprocessor', None), 'mean', None)
    if mean is not None:
        return int(mean.numel())
    backbone = getattr(model, 'backbone', None)
    return 2 * int(getattr(backbone, 'in_channels', 3))


def is_fast_model(model: nn.Module) -> bool:
    """Whether :func:`prepare_fast_model` has been applied to ``model``."""
    if is_model_wrapper(model):
        model = model.module
    return 'encode_decode' in vars(model)


def prepare_fast_model(model: nn.Module,
                       sample_shape: Sequence[int] = (1, 6, 64, 64),
                       num_threads: Optional[int] = None,
                       strict: bool = True) -> nn.Module:
    """Give a change segmentor the fast CPU inference path, in place.

    The model (the inner one of a distributed wrapper) is put in eval mode,
    ``decode_head.forward(extract_feat(inputs))`` is exported to ONNX with
    dynamic batch and size from its *current* weights, and the instance's
    ``encode_decode`` runs that graph in ONNX Runtime, then the head's own
    ``predict_by_feat``. ``predict``, ``test_step``, whole and slide
    inference and post-processing are unchanged. Call it again after
    changing the weights; ``del model.encode_decode`` returns to eager.
    Training (``loss``) is not affected.

    Args:
        model (nn.Module): An :class:`EncoderDecoder` change segmentor on
            CPU (or a model wrapper around one) whose ``encode_decode`` and
            decode head ``predict`` are mmseg's.
        sample_shape (Sequence[int]): Shape of the tracing input; only the
            channel count matters. Default: (1, 6, 64, 64).
        num_threads (int, optional): ONNX Runtime intra-op threads.
            Default: None (``torch.get_num_threads()``).
        strict (bool): Raise when the fast path is not possible (no
            onnxruntime, unsupported model, not on CPU); otherwise warn and
            leave the model eager. Default: True.

    Returns:
        nn.Module: ``model``.
    """
    inner = model.module if is_model_wrapper(model) else model
    problem = fast_path_problem(inner)
    if problem is None:
        try:
            import_onnxruntime()
        except ImportError as e:
            problem = str(e)
    if problem is not None:
        if strict:
            raise RuntimeError(f'no fast inference path: {problem}')
        print_log(
            f'fast inference off, using the eager model: {problem}',
            logger='current',
            level=30)
        return model
    inner.eval()
    vars(inner).pop('encode_decode', None)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(
            ChangeLogits(inner), [torch.zeros(tuple(sample_shape))],
            osp.join(tmp, 'change_logits.onnx'), ['inputs'], ['logits'])
        inner.fast_logits = OnnxRuntimeLogits(path, num_threads)
    inner.encode_decode = types.MethodType(_fast_encode_decode, inner)
    print_log(
        'fast inference: ONNX Runtime on '
        f'{inner.fast_logits.num_threads} thread(s)',
        logger='current')
    return model


@HOOKS.register_module()
class FastInferenceHook(Hook):
    """Switch the model to :func:`prepare_fast_model` before testing.

    Runs after the checkpoint is loaded (``before_test``), so the exported
    graph holds the tested weights. When the fast path is impossible (no
    onnxruntime, GPU model, unsupported head) it logs why and tests the
    eager model.

    Args:
        num_threads (int, optional): ONNX Runtime intra-op threads.
            Default: None (``torch.get_num_threads()``).
    """

    priority = 'LOW'

    def __init__(self, num_threads: Optional[int] = None):
        self.num_threads = num_threads

    def before_test(self, runner) -> None:
        prepare_fast_model(
            runner.model,
            sample_shape=(1, pair_channels(runner.model), 64, 64),
            num_threads=self.num_threads,
            strict=False)
