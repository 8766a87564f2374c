"""OpenVINO execution of exported change segmentor graphs (CPU)."""
import collections
import logging
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

#: OpenVINO inference precision of each fast-path precision it runs (int8:
#: of the operations NNCF leaves in floating point).
OPENVINO_PRECISIONS = dict(fp32='f32', bf16='bf16', int8='f32')


def import_openvino():
    """Import openvino, or say how to install it."""
    try:
        import openvino
    except ImportError as e:
        raise ImportError(
            'this fast path backend needs openvino: `pip install openvino` '
            '(or `pip install -r requirements/tests.txt`); the '
            "'onnxruntime' backend or --no-fast run without it") from e
    return openvino


def import_nncf():
    """Import nncf (OpenVINO's quantiser), or say how to install it."""
    try:
        import nncf
    except ImportError as e:
        raise ImportError(
            'int8 in OpenVINO needs nncf: `pip install nncf` (or `pip '
            'install -r requirements/tests.txt`); the \'onnxruntime\' '
            'backend quantises without it') from e
    return nncf


def quantize_int8_openvino(onnx_path: str,
                           calibration_inputs: Sequence[Tensor]):
    """Static int8 quantisation of an exported graph with NNCF.

    NNCF's ``MIXED`` preset: int8 weights (symmetric, per output channel)
    and activations (asymmetric, per tensor), ranges from the calibration
    inputs (one sample each), the operations OpenVINO runs faster in
    floating point left there. The graph keeps its dynamic batch and size.

    Args:
        onnx_path (str): The fp32 graph (one input).
        calibration_inputs (Sequence[Tensor]): Inputs of the graph, as
            inference feeds them (preprocessed ``(N, 2C, H, W)`` batches).

    Returns:
        openvino.Model: The quantised model (for :class:`OpenVINOLogits`).
    """
    ov = import_openvino()
    nncf = import_nncf()
    samples = [
        np.ascontiguousarray(
            x[i:i + 1].detach().to('cpu', torch.float32).numpy())
        for x in calibration_inputs for i in range(len(x))
    ]
    if not samples:
        raise ValueError('int8 quantisation needs at least one calibration '
                         'input')
    nncf_logger = logging.getLogger('nncf')
    level = nncf_logger.level
    nncf_logger.setLevel(logging.ERROR)  # progress bars and statistics
    try:
        return nncf.quantize(ov.Core().read_model(onnx_path),
                             nncf.Dataset(samples),
                             preset=nncf.QuantizationPreset.MIXED,
                             subset_size=len(samples))
    finally:
        nncf_logger.setLevel(level)


def fold_constants(model) -> None:
    """Constant-fold ``model`` in place (OpenVINO's ``ConstantFolding``).

    What the graph computes from constants becomes a constant: the axes of
    means (from ``Range``, for :func:`pool_strip_means`) and the convolution
    biases, whose reshape the ONNX import computes from the convolution's
    output shape. In a graph that runs one Siamese backbone once per date,
    OpenVINO's CPU plugin left such biases unfused, each depthwise
    convolution's bias a separate element-wise pass; folded first, they
    fuse into the convolutions.
    """
    import openvino.passes as passes
    manager = passes.Manager()
    manager.register_pass(passes.ConstantFolding())
    manager.run_passes(model)


def pool_strip_means(model) -> int:
    """Rewrite, in place, every mean of a static ``(N, C, H, W)`` tensor
    over its height alone or its width alone (coordinate attention's
    strips) as an average pooling of window ``(H, 1)`` or ``(1, W)``.

    The same values; OpenVINO's CPU plugin runs a mean over the height
    as a slow strided reduction, and the pooling several times faster.
    Means over both axes stay as they are (there the reduction is the
    faster). Needs static shapes and constant axes, so it runs after
    ``model.reshape`` and :func:`fold_constants`.

    Returns:
        int: The number of means rewritten.
    """
    import openvino.opset13 as ops
    rewritten = 0
    for node in model.get_ordered_ops():
        if node.get_type_name() != 'ReduceMean':
            continue
        data, axes = node.input_value(0), node.input_value(1).get_node()
        shape = data.get_partial_shape()
        if (axes.get_type_name() != 'Constant' or not shape.is_static
                or len(shape) != 4
                or not node.get_attributes().get('keep_dims')):
            continue
        reduced = {int(a) % 4 for a in axes.get_data().reshape(-1)}
        if reduced not in ({2}, {3}):
            continue
        size = shape.to_shape()
        window = [size[2], 1] if reduced == {2} else [1, size[3]]
        pool = ops.avg_pool(data, [1, 1], [0, 0], [0, 0], window, True,
                            'floor')
        pool.set_friendly_name(node.get_friendly_name())
        node.output(0).replace(pool.output(0))
        rewritten += 1
    return rewritten


class OpenVINOLogits:
    """An exported graph compiled by OpenVINO, called like the module it was
    exported from.

    The graph is compiled for each input size it meets (at batch 1: static
    shapes run about twice as fast as a dynamic-shape compilation; the last
    ``max_compiled_sizes`` sizes are kept). A single sample runs on one
    request with all ``num_threads`` threads; a batch runs as single-sample
    requests on ``num_threads`` single-threaded streams side by side.
    Subnormal floats are flushed to zero; each compiled copy is
    constant-folded (:func:`fold_constants`) and its means over one spatial
    axis run as poolings (:func:`pool_strip_means`).

    ``precision`` is OpenVINO's inference precision, set explicitly:
    OpenVINO's own default on CPUs with bfloat16 instructions is bf16,
    which this class never takes silently. ``'bf16'`` raises when the CPU
    has no bfloat16 support (OpenVINO would run f32 instead); ``'int8'``
    runs a model quantised by :func:`quantize_int8_openvino`, its
    floating-point operations in f32.

    Args:
        model (str | openvino.Model): The exported graph (one input
            ``(N, C, H, W)``, one output) as an ONNX file (read once, so
            the file may be removed afterwards) or an OpenVINO model.
        num_threads (int, optional): Threads. Default: None, meaning
            ``torch.get_num_threads()``.
        precision (str): ``'fp32'``, ``'bf16'`` or ``'int8'`` (``model``
            quantised). Default: ``'fp32'``.
        max_compiled_sizes (int): Input sizes kept compiled. Default: 8.
    """

    def __init__(self,
                 model,
                 num_threads: Optional[int] = None,
                 precision: str = 'fp32',
                 max_compiled_sizes: int = 8):
        if precision not in OPENVINO_PRECISIONS:
            raise ValueError(f'OpenVINO precision must be one of '
                             f'{tuple(OPENVINO_PRECISIONS)}, got '
                             f'{precision!r}')
        ov = import_openvino()
        self.core = ov.Core()
        self.model = (self.core.read_model(model) if isinstance(model, str)
                      else model)
        self.num_threads = num_threads or torch.get_num_threads()
        self.precision = precision
        self.max_compiled_sizes = max_compiled_sizes
        self._compiled = collections.OrderedDict()  # shape -> compiled
        if precision == 'bf16':
            capabilities = self.core.get_property('CPU',
                                                  'OPTIMIZATION_CAPABILITIES')
            if 'BF16' not in capabilities:
                raise RuntimeError(
                    'precision bf16: this CPU has no bfloat16 support '
                    f'(OpenVINO reports {capabilities}); use fp32')

    def _config(self, threads: int, streams: int) -> dict:
        return {
            'INFERENCE_NUM_THREADS': threads,
            'NUM_STREAMS': streams,
            'INFERENCE_PRECISION_HINT': OPENVINO_PRECISIONS[self.precision],
            'CPU_DENORMALS_OPTIMIZATION': True,
        }

    def _compile(self, shape: tuple):
        """(compiled model for one sample, one infer request per stream of
        the compiled model for batches, or None with one thread)."""
        if shape in self._compiled:
            self._compiled.move_to_end(shape)
            return self._compiled[shape]
        model = self.model.clone()
        model.reshape([1, *shape])
        fold_constants(model)
        pool_strip_means(model)
        single = self.core.compile_model(model, 'CPU',
                                         self._config(self.num_threads, 1))
        requests = None
        if self.num_threads > 1:
            streams = self.core.compile_model(
                model, 'CPU', self._config(self.num_threads,
                                           self.num_threads))
            requests = [streams.create_infer_request()
                        for _ in range(self.num_threads)]
        self._compiled[shape] = (single, requests)
        while len(self._compiled) > self.max_compiled_sizes:
            self._compiled.popitem(last=False)
        return single, requests

    def __call__(self, inputs: Tensor) -> Tensor:
        """Run the graph on a CPU float ``(N, C, H, W)`` tensor."""
        array = np.ascontiguousarray(
            inputs.detach().to('cpu', torch.float32).numpy())
        single, requests = self._compile(tuple(array.shape[1:]))
        if len(array) == 1 or requests is None:
            outs = [single(array[i:i + 1])[0] for i in range(len(array))]
        else:
            # rounds of one sample per request, the requests side by side
            # in OpenVINO's threads (no Python threads: concurrent first
            # calls into pyopenvino deadlocked; no AsyncInferQueue: its
            # Python callbacks crashed the interpreter when collected)
            outs = []
            for start in range(0, len(array), len(requests)):
                running = requests[:len(array) - start]
                for k, request in enumerate(running):
                    request.start_async({0: array[start + k:start + k + 1]})
                for request in running:
                    request.wait()
                    outs.append(request.get_output_tensor(0).data.copy())
        return torch.from_numpy(
            outs[0] if len(outs) == 1 else np.concatenate(outs))
